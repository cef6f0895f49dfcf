"""The tutorial MLP GAN on MNIST digits.

G 100-256-512-1024-784 (Tanh out), D 784-512-256-1 (LeakyReLU 0.2), non-saturating BCE on
logits, Adam 2e-4, batch 64.

Two departures from the tutorial, both measured on the 4,500 offline digits: with ReLU in G
and Adam's default beta1 0.9 the generator collapses to one noisy image (by step 5,000 in
jaxgan, and in the PyTorch original run the same way); LeakyReLU 0.2 in G (as most copies
of the tutorial use) with beta1 0.5 trains to recognisable digits in about 6,000 steps.
The tutorial's exact settings: --config.model.g_activation=relu --config.optim.b1=0.9
"""
from configs import gan_common


def get_config():
  config = gan_common.get_config()
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.model.g_hidden = (256, 512, 1024)
  config.model.d_hidden = (512, 256)
  config.model.g_activation = 'leaky_relu'
  config.objective = 'non_saturating'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.train.batch_size = 64
  config.train.num_steps = 6_000
  config.train.sample_every_steps = 2_000
  config.train.checkpoint_every_steps = 2_000
  return config
