"""The tutorial MLP GAN on MNIST digits.

G 100-256-512-1024-784 (ReLU, Tanh), D 784-512-256-1 (LeakyReLU 0.2), non-saturating BCE on
logits, Adam 2e-4 (PyTorch's default betas), batch 64.
"""
from configs import common


def get_config():
  config = common.get_config()
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.model.g_hidden = (256, 512, 1024)
  config.model.d_hidden = (512, 256)
  config.objective = 'non_saturating'
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.9
  config.train.batch_size = 64
  config.train.num_steps = 20_000
  return config
