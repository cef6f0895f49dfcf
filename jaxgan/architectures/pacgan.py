"""The fully connected nets of the 2-D Gaussian-mixture benchmark, as PacGAN builds them
(Lin et al. 2018, synthetic experiments, after VEEGAN's protocol).

Generator: `g_hidden` widths (PacGAN: four of 400), each Linear without bias, BatchNorm, ReLU;
a linear output with bias and no squashing (the grid's modes sit at +-4).
Discriminator: `d_hidden` linear-maxout layers (PacGAN: three of 200 units with 5 pieces each),
then a linear logit. Weights N(0, 0.02), biases 0. Packing (PacGAN's m) needs nothing here:
the trainer hands the discriminator m samples concatenated along the last axis.
"""
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgan.architectures import DISCRIMINATORS, GENERATORS, heads
from jaxgan.architectures.layers import batch_norm, dcgan_normal

class Dense(nn.Module):
  """Linear with N(0, 0.02) weights and zero biases (PacGAN's initialisation)."""
  features: int
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    y = x @ self.param('kernel', dcgan_normal(0.02), (x.shape[-1], self.features))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


class PacGANGenerator(nn.Module):
  hidden: Sequence[int]
  output_shape: Tuple[int, ...]
  use_batch_norm: bool = True
  options: Optional[heads.Options] = None

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    x = heads.condition_latent(self.options, z, labels)
    for i, width in enumerate(self.hidden):
      x = Dense(width, use_bias=not self.use_batch_norm, name=f'linear_{i}')(x)
      if self.use_batch_norm:
        x = batch_norm(train, name=f'bn_{i}')(x)
      x = nn.relu(x)
    x = Dense(int(np.prod(self.output_shape)), name='out')(x)
    return x.reshape((-1,) + tuple(self.output_shape))


class MaxoutDiscriminator(nn.Module):
  hidden: Sequence[int]
  pieces: int = 5
  options: Optional[heads.Options] = None

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del train
    x = x.reshape((x.shape[0], -1))
    x = heads.condition_input(self.options, x, labels)
    for i, width in enumerate(self.hidden):
      x = Dense(width * self.pieces, name=f'maxout_{i}')(x)
      x = jnp.max(x.reshape(x.shape[0], width, self.pieces), axis=-1)
    logits = Dense(1, name='out')(x)[:, 0]
    return heads.finish_logit(self.options, logits, x, labels)


@GENERATORS.register('pacgan')
def _make_generator(model, image_shape, num_classes, options=None):
  del num_classes
  return PacGANGenerator(tuple(model.g_hidden), tuple(image_shape), model.g_batch_norm, options)


@DISCRIMINATORS.register('maxout')
def _make_discriminator(model, image_shape, num_classes, options=None):
  del image_shape, num_classes
  return MaxoutDiscriminator(tuple(model.d_hidden), model.maxout_pieces, options)
