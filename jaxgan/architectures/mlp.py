"""Fully connected generator and discriminator (the tutorial GAN; with BatchNorm for bn_gan)."""
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgan.architectures import DISCRIMINATORS, GENERATORS, heads
from jaxgan.architectures.layers import Linear, batch_norm
from jaxgan.errors import ConfigError


class MLPGenerator(nn.Module):
  """z -> hidden widths (Linear [+ BatchNorm] + ReLU or LeakyReLU) -> Linear -> Tanh -> image."""
  hidden: Sequence[int]
  image_shape: Tuple[int, int, int]
  use_batch_norm: bool = False
  options: Optional[heads.Options] = None   # conditioning (jaxgan/architectures/heads.py)
  leaky_slope: float = 0.0                  # 0: ReLU

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    x = heads.condition_latent(self.options, z, labels)
    for i, width in enumerate(self.hidden):
      x = Linear(width, name=f'linear_{i}')(x)
      if self.use_batch_norm:
        x = batch_norm(train, name=f'bn_{i}')(x)
      x = nn.leaky_relu(x, self.leaky_slope) if self.leaky_slope else nn.relu(x)
    x = Linear(int(np.prod(self.image_shape)), name='out')(x)
    return jnp.tanh(x).reshape((-1,) + tuple(self.image_shape))


class MLPDiscriminator(nn.Module):
  """image -> flatten -> hidden widths (Linear [+ BatchNorm] + LeakyReLU) -> Linear -> logit."""
  hidden: Sequence[int]
  leaky_slope: float = 0.2
  use_batch_norm: bool = False
  options: Optional[heads.Options] = None   # conditioning, minibatch features, Q head

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    x = x.reshape((x.shape[0], -1))
    x = heads.condition_input(self.options, x, labels)
    for i, width in enumerate(self.hidden):
      x = Linear(width, name=f'linear_{i}')(x)
      if self.use_batch_norm:
        x = batch_norm(train, name=f'bn_{i}')(x)
      x = nn.leaky_relu(x, self.leaky_slope)
    return heads.finish_logit(self.options, Linear(1, name='out')(x)[:, 0], x, labels)


@GENERATORS.register('mlp')
def _make_generator(model, image_shape, num_classes, options=None):
  del num_classes
  if model.g_activation not in ('relu', 'leaky_relu'):
    raise ConfigError(f"model.g_activation must be 'relu' or 'leaky_relu', got {model.g_activation!r}")
  slope = model.leaky_slope if model.g_activation == 'leaky_relu' else 0.0
  return MLPGenerator(tuple(model.g_hidden), tuple(image_shape), model.g_batch_norm, options, slope)


@DISCRIMINATORS.register('mlp')
def _make_discriminator(model, image_shape, num_classes, options=None):
  del image_shape, num_classes
  return MLPDiscriminator(tuple(model.d_hidden), model.leaky_slope, model.d_batch_norm, options)
