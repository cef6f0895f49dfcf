"""Gaussian-mixture benchmark, unrolled GAN (Metz et al. 2017): configs/mixture_gan.py with the
generator's loss through 5 unrolled discriminator updates."""
from configs import mixture_gan


def get_config():
  config = mixture_gan.get_config()
  config.train.unroll_steps = 5
  return config
