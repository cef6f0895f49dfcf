"""WGAN-GP (Gulrajani et al. 2017) on the DCGAN nets: the Wasserstein objective plus
lambda * E[(||grad D(x_hat)||_2 - 1)^2] at random interpolates x_hat of real and fake samples
(the norm over every non-batch axis; jax.grad), lambda 10, Adam 1e-4 with betas (0, 0.9),
5 critic updates per generator update, and no BatchNorm in the critic."""
from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.objective = 'wasserstein'
  config.model.d_batch_norm = False
  config.regularizer.name = 'gradient_penalty'
  config.regularizer.weight = 10.0
  config.optim.name = 'adam'
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 1e-4
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.train.d_steps = 5
  return config
