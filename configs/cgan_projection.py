"""Conditional DCGAN with a projection discriminator (Miyato & Koyama 2018): the logit gains
<embed(y), phi(x)>, phi(x) being the discriminator's penultimate features; the generator sees
[z, embed(y)]. Otherwise configs/cgan.py."""
from configs import cgan


def get_config():
  config = cgan.get_config()
  config.model.conditioning = 'projection'
  return config
