"""Unrolled GAN (Metz et al. 2017) on the digits with the tutorial MLP nets: the generator's
loss is taken through k = 5 discriminator updates, differentiating through the unrolled Adam
steps; the discriminator itself takes its usual single update."""
from configs import gan


def get_config():
  config = gan.get_config()
  config.train.unroll_steps = 5
  config.train.num_steps = 10_000
  return config
