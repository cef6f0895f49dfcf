"""MLP generator with BatchNorm against a strided-conv discriminator with BatchNorm.

Adam 2e-4 with beta1 0.5. BatchNorm eps is the usual 1e-5 (not the 0.8 that
`BatchNorm1d(C, 0.8)` sets by accident in a well-known PyTorch collection).
"""
from configs import gan_common


def get_config():
  config = gan_common.get_config()
  config.model.generator = 'mlp'
  config.model.g_hidden = (256, 512, 1024)
  config.model.g_batch_norm = True
  config.model.discriminator = 'dcgan'
  config.model.d_features = 64
  config.model.d_batch_norm = True
  config.objective = 'non_saturating'
  config.optim.b1 = 0.5
  config.train.batch_size = 64
  config.train.num_steps = 5_000
  return config
