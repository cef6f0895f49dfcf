"""The 2-D Gaussian-mixture benchmark, plain GAN (PacGAN's protocol, Lin et al. 2018).

data.name 'grid25' (25 modes at {-4,...,4}^2, std 0.05) or 'ring8' (8 modes on the unit
circle, std 0.01). Generator: 2-D N(0, I) noise, four hidden layers of 400 (BatchNorm, ReLU),
linear output. Discriminator: three linear-maxout layers of 200 units with 5 pieces. Adam 1e-4
with beta1 0.8, batch 100, non-saturating loss. PacGAN trains 400 epochs of 100,000 samples
(400,000 steps); our budget is `train.num_steps` (benchmarks/mixtures.py says what it used).
"""
from configs import gan_common


def get_config():
  config = gan_common.get_config()
  config.data.source = 'mixture'
  config.data.name = 'grid25'
  config.data.label_key = ''
  config.model.generator = 'pacgan'
  config.model.discriminator = 'maxout'
  config.model.latent_dim = 2
  config.model.g_hidden = (400, 400, 400, 400)
  config.model.d_hidden = (200, 200, 200)
  config.model.g_batch_norm = True
  config.model.d_batch_norm = False
  config.model.maxout_pieces = 5
  config.model.sample_statistics = 'running'
  config.objective = 'non_saturating'
  config.optim.name = 'adam'
  config.optim.g_lr = 1e-4
  config.optim.d_lr = 1e-4
  config.optim.b1 = 0.8
  config.train.batch_size = 100
  config.train.num_steps = 10_000
  config.train.log_every_steps = 500
  config.train.sample_every_steps = 2_500
  config.train.checkpoint_every_steps = 2_500
  config.train.grid_size = 2500
  return config
