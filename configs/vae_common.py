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

  config.optim = common.optim_group(lr=1e-3)

  config.train.batch_size = 128
  config.eval.metrics = ('likelihood',)
  return config
