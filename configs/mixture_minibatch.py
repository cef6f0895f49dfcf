"""Gaussian-mixture benchmark, minibatch discrimination (Salimans et al. 2016): configs/
mixture_gan.py with 100 kernels of dimension 5 on the discriminator's last hidden features."""
from configs import mixture_gan


def get_config():
  config = mixture_gan.get_config()
  config.model.minibatch = 'discrimination'
  return config
