"""DCGAN (Radford et al. 2016) exactly as pytorch/examples builds it, for any size s0 * 2^n.

The generator projects z to s0 x s0 with a transposed conv (kernel s0), then doubles n times
with 4x4 stride-2 transposed convs, halving the width each time (ngf * 2^(n-1) first);
BatchNorm + ReLU between, Tanh at the end, no biases. The discriminator mirrors it: n 4x4
stride-2 convs doubling the width from ndf (BatchNorm on all but the first), LeakyReLU 0.2,
and a final s0 x s0 conv to one logit. For 64x64 (s0=4, n=4) this is the original network;
for 28x28 digits s0=7, n=2.
"""
from typing import Optional, Tuple

import flax.linen as nn

from jaxgan.architectures import DISCRIMINATORS, GENERATORS, heads
from jaxgan.architectures.layers import (Conv, ConvTranspose2x, ProjectNoise, batch_norm,
                                         dcgan_normal)
from jaxgan.errors import ConfigError

MIN_BASE, MAX_BASE = 3, 7


def factor_size(height: int, width: int) -> Tuple[int, int]:
  """Returns (s0, n) with size = s0 * 2^n, n >= 1 and 3 <= s0 <= 7, or raises ConfigError."""
  if height != width:
    raise ConfigError(f'the dcgan nets need square images, got {height}x{width}; set data.image_size')
  base, doublings = height, 0
  while base % 2 == 0 and base > 4:
    base //= 2
    doublings += 1
  if doublings < 1 or not MIN_BASE <= base <= MAX_BASE:
    raise ConfigError(f'the dcgan nets cannot produce {height}x{height} images; use a size '
                      'that is 3..7 times a power of two, such as 28, 32 or 64 (data.image_size)')
  return base, doublings


class DCGANGenerator(nn.Module):
  image_shape: Tuple[int, int, int]
  features: int = 64
  use_batch_norm: bool = True
  options: Optional[heads.Options] = None   # conditioning (jaxgan/architectures/heads.py)

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    z = heads.condition_latent(self.options, z, labels)
    base, doublings = factor_size(*self.image_shape[:2])
    init = dcgan_normal(0.02)
    width = self.features * 2 ** (doublings - 1)
    x = ProjectNoise(width, base, use_bias=False, kernel_init=init, name='project')(z)
    for i in range(doublings):
      if self.use_batch_norm:
        x = batch_norm(train, init_like_dcgan=True, name=f'bn_{i}')(x)
      x = nn.relu(x)
      last = i == doublings - 1
      width = self.image_shape[-1] if last else width // 2
      x = ConvTranspose2x(width, use_bias=False, kernel_init=init, name=f'up_{i}')(x)
    return nn.tanh(x)


class DCGANDiscriminator(nn.Module):
  image_shape: Tuple[int, int, int]
  features: int = 64
  use_batch_norm: bool = True
  leaky_slope: float = 0.2
  options: Optional[heads.Options] = None   # conditioning, minibatch features, Q head
  strided_conv_via_matmul: bool = False     # see layers.conv_as_matmul

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    x = heads.condition_input(self.options, x, labels)
    base, doublings = factor_size(*self.image_shape[:2])
    init = dcgan_normal(0.02)
    for i in range(doublings):
      x = Conv(self.features * 2 ** i, 4, 2, 1, use_bias=False, kernel_init=init,
               via_matmul=self.strided_conv_via_matmul, name=f'down_{i}')(x)
      if self.use_batch_norm and i > 0:
        x = batch_norm(train, init_like_dcgan=True, name=f'bn_{i}')(x)
      x = nn.leaky_relu(x, self.leaky_slope)
    logits = Conv(1, base, 1, 0, use_bias=False, kernel_init=init, name='logit')(x)
    return heads.finish_logit(self.options, logits.reshape(x.shape[0]), x, labels)


@GENERATORS.register('dcgan')
def _make_generator(model, image_shape, num_classes, options=None):
  del num_classes
  factor_size(*image_shape[:2])
  return DCGANGenerator(tuple(image_shape), model.g_features, model.g_batch_norm, options)


@DISCRIMINATORS.register('dcgan')
def _make_discriminator(model, image_shape, num_classes, options=None):
  del num_classes
  factor_size(*image_shape[:2])
  return DCGANDiscriminator(tuple(image_shape), model.d_features, model.d_batch_norm,
                            model.leaky_slope, options, model.d_conv == 'matmul')
