"""DCGAN with minibatch discrimination in the discriminator (Salimans et al. 2016, Sec. 3.2):
B = 100 kernels of dimension C = 5 on the penultimate features, so D can see a collapsed batch.
`--config.model.minibatch=stddev` swaps in minibatch standard deviation (Karras et al. 2018)."""
from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.model.minibatch = 'discrimination'
  config.model.minibatch_kernels = 100
  config.model.minibatch_kernel_dim = 5
  return config
