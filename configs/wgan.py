"""WGAN (Arjovsky et al. 2017) on the DCGAN nets: a critic with no sigmoid (the Wasserstein
objective on raw outputs), RMSprop 5e-5 for both players, every critic weight clipped to
[-0.01, 0.01] after each critic update, 5 critic updates per generator update (each on its own
real batch and fresh fakes)."""
from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.objective = 'wasserstein'
  config.optim.name = 'rmsprop'
  config.optim.g_lr = 5e-5
  config.optim.d_lr = 5e-5
  config.regularizer.clip = 0.01
  config.train.d_steps = 5
  return config
