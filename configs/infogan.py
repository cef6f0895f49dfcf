"""InfoGAN (Chen et al. 2016) on the digits: one 10-way categorical code and two continuous
codes drawn uniform in [-1, 1], appended to 62 noise dimensions. A Q head on the
discriminator's penultimate features (shared body) predicts the codes; both players add the
mutual-information loss (categorical weight 1, continuous 0.1, continuous codes as unit-variance
Gaussians). DCGAN nets, Adam beta1 0.5 with the paper's rates (D 2e-4, G 1e-3).
Grids: one row per categorical value, the first continuous code from -1 to 1 along each row.
"""
from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.model.latent_dim = 62
  config.info.categories = 10
  config.info.continuous = 2
  config.info.categorical_weight = 1.0
  config.info.continuous_weight = 0.1
  config.model.q_hidden = 128
  config.optim.d_lr = 2e-4
  config.optim.g_lr = 1e-3
  config.train.grid_size = 80        # 10 rows (categories) x 8 columns (continuous code 1)
  return config
