"""Encoders and decoders of the VAE family, chosen by `config.model.vae` ('mlp' | 'conv').

A `VAE` module has three entry points (Flax methods):
  encode(x)  x [B, H, W, C] in [0, 1]  -> (mean [B, nz], log_var [B, nz]) of q(z | x)
  decode(z)  z [B, nz]                 -> logits [B, H, W, C] of the Bernoulli p(x | z)
  __call__(x, eps)                     -> (logits, mean, log_var), z = mean + exp(log_var/2) eps
'mlp' is pytorch/examples' VAE (784-400-20, ReLU): its layers run in the original's order
(fc1, fc21, fc22, fc3, fc4), so jaxgan.porting maps its weights one to one. 'conv' is a
convolutional pair: two 4x4 stride-2 convolutions (32, 64 channels) and a dense layer each way,
the decoder's upsampling computed like DCGAN's (layers.ConvTranspose2x).
"""
from typing import Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgan.architectures.layers import Conv, ConvTranspose2x, Linear
from jaxgan.errors import ConfigError
from jaxgan.registry import Registry

VAES = Registry('VAE architecture')


class VAE(nn.Module):
  """Holds an encoder and a decoder (submodules built in `setup`)."""
  image_shape: Tuple[int, int, int]
  latent_dim: int
  hidden: Sequence[int] = (400,)
  kind: str = 'mlp'
  features: int = 32

  def setup(self):
    if self.kind == 'mlp':
      self.encoder = MLPEncoder(tuple(self.hidden), self.latent_dim)
      self.decoder = MLPDecoder(tuple(self.hidden), self.image_shape)
    else:
      self.encoder = ConvEncoder(self.features, self.hidden[0], self.latent_dim)
      self.decoder = ConvDecoder(self.features, self.hidden[0], self.image_shape)

  def encode(self, x, train: bool = False):
    del train
    return self.encoder(x)

  def decode(self, z, train: bool = False):
    del train
    return self.decoder(z)

  def __call__(self, x, eps, train: bool = False):
    mean, log_var = self.encode(x)
    z = mean + jnp.exp(0.5 * log_var) * eps
    return self.decode(z), mean, log_var


class MLPEncoder(nn.Module):
  hidden: Tuple[int, ...]
  latent_dim: int

  @nn.compact
  def __call__(self, x):
    h = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      h = nn.relu(Linear(width, name=f'hidden_{i}')(h))
    return Linear(self.latent_dim, name='mean')(h), Linear(self.latent_dim, name='log_var')(h)


class MLPDecoder(nn.Module):
  hidden: Tuple[int, ...]
  image_shape: Tuple[int, int, int]

  @nn.compact
  def __call__(self, z):
    h = z
    for i, width in enumerate(reversed(self.hidden)):
      h = nn.relu(Linear(width, name=f'hidden_{i}')(h))
    logits = Linear(int(np.prod(self.image_shape)), name='logits')(h)
    return logits.reshape((-1,) + tuple(self.image_shape))


class ConvEncoder(nn.Module):
  features: int
  hidden: int
  latent_dim: int

  @nn.compact
  def __call__(self, x):
    h = nn.relu(Conv(self.features, 4, 2, 1, name='conv_0')(x))
    h = nn.relu(Conv(2 * self.features, 4, 2, 1, name='conv_1')(h))
    h = nn.relu(Linear(self.hidden, name='hidden')(h.reshape(h.shape[0], -1)))
    return Linear(self.latent_dim, name='mean')(h), Linear(self.latent_dim, name='log_var')(h)


class ConvDecoder(nn.Module):
  features: int
  hidden: int
  image_shape: Tuple[int, int, int]

  @nn.compact
  def __call__(self, z):
    h, w, c = self.image_shape
    base = (h // 4, w // 4, 2 * self.features)
    x = nn.relu(Linear(self.hidden, name='hidden')(z))
    x = nn.relu(Linear(int(np.prod(base)), name='project')(x)).reshape((-1,) + base)
    x = nn.relu(ConvTranspose2x(self.features, name='up_0')(x))
    return ConvTranspose2x(c, name='up_1')(x)


def make_vae(model_config, image_shape) -> VAE:
  kind = VAES.get(model_config.vae, 'model.vae')
  if len(image_shape) != 3:
    raise ConfigError(f'the VAE models images; the data gives items of shape {tuple(image_shape)}')
  if kind == 'conv' and (image_shape[0] % 4 or image_shape[1] % 4):
    raise ConfigError(f'model.vae=conv needs image sides divisible by 4, got {image_shape[:2]}; '
                      'set data.image_size')
  return VAE(tuple(image_shape), int(model_config.latent_dim), tuple(model_config.hidden), kind,
             int(model_config.features))


VAES.register('mlp')('mlp')
VAES.register('conv')('conv')
