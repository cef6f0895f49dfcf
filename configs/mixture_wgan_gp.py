"""Gaussian-mixture benchmark, WGAN-GP: configs/mixture_gan.py's nets (the maxout critic has no
BatchNorm) with the Wasserstein objective, gradient penalty lambda 10, Adam 1e-4 betas (0, 0.9),
5 critic updates per generator update."""
from configs import mixture_gan


def get_config():
  config = mixture_gan.get_config()
  config.objective = 'wasserstein'
  config.regularizer.name = 'gradient_penalty'
  config.regularizer.weight = 10.0
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.train.d_steps = 5
  return config
