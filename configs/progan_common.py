"""Defaults of the ProGAN family (jaxgan/trainers/progan.py), on top of configs/common.py:
the official code's choices (ANCHORS.md) with CPU-sized widths. A ProGAN config carries no
fields of the other families."""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  config.trainer = 'progan'

  config.model = ml_collections.ConfigDict()
  config.model.latent_dim = 128      # the paper: 512
  # Channels per resolution, 4x4 first, one per level up to data.image_size (the paper: 512
  # up to 32x32, then halving).
  config.model.widths = (64, 64, 64, 64, 64, 64)
  config.model.mbstd_group = 4       # minibatch stddev group size

  config.progan = ml_collections.ConfigDict()
  # Images per phase (each fade and each stable phase): steps = images_per_phase // batch_size.
  # The paper: 600,000-800,000.
  config.progan.images_per_phase = 600_000
  # Minibatch per resolution, 4x4 first (the official code's {4: 128, 8: 128, 16: 128, 32: 64,
  # 64: 32, 128: 16}); () uses train.batch_size at every resolution.
  config.progan.batch_sizes = (128, 128, 128, 64, 32, 16)
  config.progan.gp_weight = 10.0     # WGAN-GP lambda
  config.progan.drift = 0.001        # epsilon_drift * D(real)^2
  config.progan.ema = 0.999          # EMA of the generator's weights (samples, evaluation)

  config.optim = common.optim_group(lr=1e-3)
  config.optim.b1 = 0.0              # the paper: Adam betas (0, 0.99)
  config.optim.b2 = 0.99

  config.data.image_size = 32
  config.eval.metrics = ('sample_quality',)
  config.eval.every_steps = 0
  return config
