"""Defaults of the VAE family (jaxgan/trainers/vae.py), on top of configs/common.py. A VAE
config carries no discriminator or adversarial fields."""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  config.trainer = 'vae'

  config.model = ml_collections.ConfigDict()
  config.model.vae = 'mlp'           # 'mlp' (pytorch/examples) | 'conv' (jaxgan/architectures/vae.py)
  config.model.latent_dim = 20
  config.model.hidden = (400,)       # MLP widths (encoder; the decoder mirrors them); conv: dense width
  config.model.features = 32         # conv: channels of the first convolution

  config.vae = ml_collections.ConfigDict()
  # What the Bernoulli decoder reproduces: 'grey' (intensities in [0, 1], the PyTorch tutorial),
  # 'dynamic' (a fresh binary sample per batch, IWAE's protocol), 'static' (thresholded at 0.5;
  # binarized_mnist with data.pixel_max=1 passes through).
  config.vae.data_mode = 'grey'
  config.vae.beta = 1.0              # weight of the KL term in training (evaluation always uses 1)

  config.optim = ml_collections.ConfigDict()
  config.optim.name = 'adam'
  config.optim.lr = 1e-3
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.rms_decay = 0.99
  config.optim.schedule = 'constant'  # 'constant' | 'linear_decay' | 'warmup_cosine' (jaxgan/optimizers.py)
  config.optim.warmup_steps = 0
  config.optim.decay_start_step = 0

  config.train.batch_size = 128
  config.eval.metrics = ('likelihood',)
  return config
