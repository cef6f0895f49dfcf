"""DCGAN (Radford et al. 2016) as in pytorch/examples.

Transposed-conv generator with BatchNorm/ReLU/Tanh, strided-conv discriminator with
LeakyReLU 0.2 (BatchNorm after the first layer), N(0, 0.02) init, Adam 2e-4 beta1 0.5.
On digits the nets work at 28x28 (7 -> 14 -> 28); on natural images set
`--config.data.image_size=64` (4 -> 8 -> 16 -> 32 -> 64, the original).
"""
from configs import gan_common


def get_config():
  config = gan_common.get_config()
  config.model.generator = 'dcgan'
  config.model.discriminator = 'dcgan'
  config.model.g_features = 64
  config.model.d_features = 64
  config.model.g_batch_norm = True
  config.model.d_batch_norm = True
  config.objective = 'non_saturating'
  config.optim.b1 = 0.5
  config.train.batch_size = 64
  config.train.num_steps = 3_000
  config.train.sample_every_steps = 500
  config.train.checkpoint_every_steps = 500
  return config
