"""The PyTorch tutorial's VAE (pytorch/examples vae/main.py): 784-400-20 with ReLU, a Bernoulli
decoder on logits, pixel intensities in [0, 1] as targets, BCE and KL summed per example, Adam
1e-3, batch 128. The tutorial trains 10 epochs of 60,000 images (4,690 steps); the offline
digits have 4,500 training images, so 10 epochs here are 350 steps and the default budget is
3,500 steps (100 epochs of the offline digits). IWAE's protocol: --config.vae.data_mode=dynamic.
"""
from configs import vae_common


def get_config():
  config = vae_common.get_config()
  config.train.num_steps = 3_500
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 500
  config.train.checkpoint_every_steps = 500
  config.eval.every_steps = 0          # e.g. --config.eval.every_steps=500: ELBO and IWAE bounds
  return config
