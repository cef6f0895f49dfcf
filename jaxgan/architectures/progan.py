"""ProGAN's nets (Karras et al. 2018, the official TensorFlow code's choices; ANCHORS.md).

Equalized learning rate: every weight is stored N(0, 1) and scaled at run time by
gain / sqrt(fan_in) (gain sqrt(2); 1 for to-RGB and D's last dense). Pixel norm (eps 1e-8) on
the latent and after every G conv, leaky ReLU 0.2, nearest-neighbour 2x upsampling, 2x average
pooling, minibatch stddev (one extra feature map before D's last block).

Both nets take the resolution level (`level`: 0 is 4x4, level l is 4 * 2**l) and whether the
newest block is fading in (`fade`) as static fields, and `alpha` (the fade-in weight, traced) as
an input. Submodules are named per resolution (`block_8`, `to_rgb_8`, `from_rgb_8`), so the
parameters of a grown net are a superset (by name) of the smaller net's, except that a stable
net drops the to-RGB (G) / from-RGB (D) of the resolution below, which only the fade uses.
At alpha 0 a fading net equals the net of the level below (G upsampled, D on the pooled image),
at alpha 1 the stable net of its own level.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

SQRT2 = math.sqrt(2.0)


def leaky_relu(x):
  return jax.nn.leaky_relu(x, 0.2)


def pixel_norm(x, eps: float = 1e-8):
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def upsample2x(x):
  """Nearest neighbour, NHWC."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def upsample_to(x, size: int):
  factor = size // x.shape[1]
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downsample2x(x):
  """2x2 average pooling (box filter), NHWC."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def downsample_to(x, size: int):
  factor = x.shape[1] // size
  if factor == 1:
    return x
  b, h, w, c = x.shape
  return x.reshape(b, size, factor, size, factor, c).mean(axis=(2, 4))


def minibatch_stddev(x, group_size: int = 4):
  """The official code's layer: samples i, i + B/G, i + 2B/G, ... form a group of G; the
  stddev over each group (per feature and pixel, eps 1e-8 inside the sqrt), averaged over
  features and pixels, becomes one extra feature map for every member of the group."""
  b, h, w, c = x.shape
  g = min(group_size, b)
  if b % g:
    raise ValueError(f'minibatch stddev: batch {b} is not a multiple of the group size {g}')
  y = x.reshape(g, b // g, h, w, c)
  y = y - y.mean(axis=0, keepdims=True)
  y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)       # [M, H, W, C]
  y = y.mean(axis=(1, 2, 3))                                  # [M]
  y = jnp.tile(y, g)                                          # sample i -> group i % M
  return jnp.concatenate([x, jnp.broadcast_to(y[:, None, None, None], (b, h, w, 1)).astype(x.dtype)],
                         axis=-1)


class EqDense(nn.Module):
  features: int
  gain: float = SQRT2
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (fan_in, self.features))
    y = x @ (kernel * (self.gain / math.sqrt(fan_in)))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


class EqConv(nn.Module):
  features: int
  kernel_size: int = 3
  gain: float = SQRT2

  @nn.compact
  def __call__(self, x):
    k, cin = self.kernel_size, x.shape[-1]
    fan_in = k * k * cin
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, cin, self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    y = jax.lax.conv_general_dilated(x, kernel * (self.gain / math.sqrt(fan_in)), (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + bias


def resolution(level: int) -> int:
  return 4 * 2 ** level


class GBlock(nn.Module):
  """4x4: latent -> dense -> conv; above: upsample -> conv -> conv; pixel norm after each."""
  features: int
  first: bool = False

  @nn.compact
  def __call__(self, x):
    if self.first:
      # The official gain, and one bias per channel added after the reshape (not per unit).
      x = EqDense(16 * self.features, gain=SQRT2 / 4, use_bias=False, name='dense')(x)
      bias = self.param('dense_bias', nn.initializers.zeros, (self.features,))
      x = pixel_norm(leaky_relu(x.reshape(x.shape[0], 4, 4, self.features) + bias))
    else:
      x = upsample2x(x)
      x = pixel_norm(leaky_relu(EqConv(self.features, name='conv0')(x)))
    return pixel_norm(leaky_relu(EqConv(self.features, name='conv1')(x)))


class ProGenerator(nn.Module):
  level: int = 0
  fade: bool = False
  widths: Sequence[int] = (64,)     # channels per level (4x4 first)
  channels: int = 1

  @nn.compact
  def __call__(self, z, alpha, train: bool = False):
    del train
    x = pixel_norm(z)
    lower = None
    for level in range(self.level + 1):
      r = resolution(level)
      if level == self.level and self.fade:
        lower = x
      x = GBlock(self.widths[level], first=level == 0, name=f'block_{r}')(x)
    high = EqConv(self.channels, 1, gain=1.0, name=f'to_rgb_{resolution(self.level)}')(x)
    if lower is None:
      return high
    low = EqConv(self.channels, 1, gain=1.0, name=f'to_rgb_{resolution(self.level - 1)}')(lower)
    low = upsample2x(low)
    return low + alpha * (high - low)


class DBlock(nn.Module):
  """Above 4x4: conv -> conv -> 2x average pool; 4x4: minibatch stddev -> conv -> dense ->
  dense (gain 1)."""
  features: int
  out_features: int
  last: bool = False
  group_size: int = 4

  @nn.compact
  def __call__(self, x):
    if self.last:
      x = minibatch_stddev(x, self.group_size)
      x = leaky_relu(EqConv(self.features, name='conv0')(x))
      x = leaky_relu(EqDense(self.features, name='dense0')(x.reshape(x.shape[0], -1)))
      return EqDense(1, gain=1.0, name='dense1')(x)[:, 0]
    x = leaky_relu(EqConv(self.features, name='conv0')(x))
    x = leaky_relu(EqConv(self.out_features, name='conv1')(x))
    return downsample2x(x)


class ProDiscriminator(nn.Module):
  level: int = 0
  fade: bool = False
  widths: Sequence[int] = (64,)
  group_size: int = 4

  @nn.compact
  def __call__(self, images, alpha, train: bool = False):
    del train
    r = resolution(self.level)
    x = leaky_relu(EqConv(self.widths[self.level], 1, name=f'from_rgb_{r}')(images))
    for level in range(self.level, -1, -1):
      r = resolution(level)
      out = self.widths[max(level - 1, 0)]
      x = DBlock(self.widths[level], out, last=level == 0, group_size=self.group_size,
                 name=f'block_{r}')(x)
      if level == self.level and self.fade:
        low = leaky_relu(EqConv(self.widths[level - 1], 1, name=f'from_rgb_{resolution(level - 1)}')(
            downsample2x(images)))
        x = low + alpha * (x - low)
    return x
