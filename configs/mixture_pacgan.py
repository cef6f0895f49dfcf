"""Gaussian-mixture benchmark, PacGAN4 (Lin et al. 2018): configs/mixture_gan.py with the
discriminator judging 4 samples at once (concatenated); PacGAN's packed batch of 100 is 100
packs of 4, so the generator draws 400 samples per batch. Set model.pack=2 for PacGAN2."""
from configs import mixture_gan


def get_config():
  config = mixture_gan.get_config()
  config.model.pack = 4
  config.train.batch_size = 400
  return config
