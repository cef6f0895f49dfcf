"""A convolutional VAE on the digits: two 4x4 stride-2 convolutions (32, 64) and a dense layer
of 256 in the encoder, mirrored in the decoder; 20 latents; otherwise configs/vae.py."""
from configs import vae


def get_config():
  config = vae.get_config()
  config.model.vae = 'conv'
  config.model.hidden = (256,)
  config.model.features = 32
  return config
