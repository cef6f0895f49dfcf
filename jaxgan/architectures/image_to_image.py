"""The image-to-image nets of CycleGAN and pix2pix, as junyanz/pytorch-CycleGAN-and-pix2pix
(models/networks.py) builds them, layer for layer and in its forward order (so
`jaxgan.porting` maps the reference's state dicts onto them):

  ResnetGenerator      reflection pad 3, conv 7x7 (ngf), two stride-2 3x3 convs (zero padding
                       1) doubling the width, `resnet_blocks` residual blocks (reflection pad 1,
                       conv 3x3, norm, ReLU, [dropout 0.5], reflection pad 1, conv 3x3, norm),
                       two stride-2 3x3 transposed convs (padding 1, output padding 1) halving
                       it, reflection pad 3, conv 7x7, tanh. 9 blocks at 256x256, 6 at 128x128.
  UnetGenerator        `unet_downs` stride-2 4x4 convs down to 1x1 (ngf, 2ngf, 4ngf, 8ngf, ...
                       capped at 8ngf), LeakyReLU 0.2 before each but the first, norm after
                       each but the first and the innermost; mirrored 4x4 stride-2 transposed
                       convs back up with ReLU before and norm after, each concatenating the
                       skip from its level; dropout 0.5 after the up-norm of the
                       `unet_downs - 5` blocks next to the innermost; tanh. unet_256 has 8
                       downs, unet_128 7; 32x32 images need 5.
  PatchDiscriminator   the 70x70 PatchGAN for `d_layers` = 3: a 4x4 stride-2 conv (ndf,
                       bias, no norm), `d_layers - 1` more 4x4 stride-2 convs doubling the width
                       (capped at 8 ndf), one 4x4 stride-1 conv, each with norm and LeakyReLU
                       0.2, then a 4x4 stride-1 conv to one logit per patch: [B, h, w].

Norms (`model.norm`): 'instance' (InstanceNorm2d with affine=False and no running statistics,
the reference's `--norm instance`: convs then keep their biases), 'batch' (BatchNorm with
PyTorch's semantics, `layers.BatchNorm`; convs before it drop their biases, as the reference
sets use_bias only for instance norm) or 'none'. Initialisation is the reference's
`init_weights(net, 'normal', 0.02)`: conv weights N(0, 0.02), biases zero, BatchNorm scales
N(1, 0.02) and offsets zero.
"""
from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.architectures.layers import BatchNorm, dcgan_normal, upsample2x_phase_conv
from jaxgan.errors import ConfigError
from jaxgan.registry import Registry

TRANSLATORS = Registry('image-to-image generator')
NORMS = ('instance', 'batch', 'none')


def reflect_pad(x, pad: int):
  """nn.ReflectionPad2d(pad) on NHWC: mirrors without repeating the edge pixel."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def instance_norm(x, epsilon: float = 1e-5):
  """nn.InstanceNorm2d(affine=False, track_running_stats=False): each image and channel
  normalised over its pixels, with the biased variance."""
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = jnp.square(x - mean).mean(axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + epsilon)


# Taps of a 3-tap, stride-2, padding-1, output-padding-1 transposed kernel that reach output
# phase r from input offsets (0, 1) of a 2-wide window: out[2m] = x[m] w1 and
# out[2m+1] = x[m] w2 + x[m+1] w0 (-1: no tap).
_UP3_TAPS = ((1, -1), (2, 0))


def upsample2x_3x3(x, kernel):
  """PyTorch ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1) (HWIO kernel,
  unflipped) as one stride-1 2x2 convolution over x padded by one pixel at the bottom and
  right, one output phase per group of channels, then a depth-to-space interleave: the
  dilated-input convolution's weight gradient is very slow on XLA:CPU (layers.py)."""
  batch, height, width, _ = x.shape
  cin, cout = kernel.shape[2], kernel.shape[3]
  padded_kernel = jnp.concatenate([kernel, jnp.zeros((1, 3, cin, cout), kernel.dtype)], 0)
  padded_kernel = jnp.concatenate([padded_kernel, jnp.zeros((4, 1, cin, cout), kernel.dtype)], 1)
  taps = jnp.asarray(_UP3_TAPS)        # -1 picks the zero row/column appended above
  rows = padded_kernel[taps.T]                         # [offset_h, r, kw, ci, co]
  phase_kernel = rows[:, :, taps.T]                    # [oh, r, ow, c, ci, co]
  phase_kernel = phase_kernel.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, cin, 4 * cout)
  xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  y = jax.lax.conv_general_dilated(xp, phase_kernel, (1, 1), 'VALID',
                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  y = y.reshape(batch, height, width, 2, 2, cout)      # [B, H, W, r, c, C]
  return y.transpose(0, 1, 3, 2, 4, 5).reshape(batch, 2 * height, 2 * width, cout)


class ConvTransposeUp(nn.Module):
  """nn.ConvTranspose2d doubling height and width: kernel 4 (stride 2, padding 1, the U-Net's)
  or kernel 3 (stride 2, padding 1, output padding 1, the ResNet generator's). Kernel
  (k, k, in, out) holds PyTorch's weight[in, out, kh, kw] transposed, unflipped."""
  features: int
  kernel_size: int = 4
  use_bias: bool = True
  kernel_init: Callable = dcgan_normal(0.02)
  porting_kind = 'conv_transpose'   # how jaxgan.porting maps it

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], self.features))
    dtype = jnp.promote_types(x.dtype, kernel.dtype)   # as nn.Conv promotes
    x, kernel = x.astype(dtype), kernel.astype(dtype)
    y = upsample2x_phase_conv(x, kernel) if k == 4 else upsample2x_3x3(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


def _conv(features: int, kernel: int, stride: int = 1, padding: int = 0, use_bias: bool = True,
          name: Optional[str] = None):
  """nn.Conv2d with zero padding `padding`, initialised N(0, 0.02) with zero bias."""
  return nn.Conv(features, (kernel, kernel), strides=stride, padding=[(padding, padding)] * 2,
                 use_bias=use_bias, kernel_init=dcgan_normal(0.02),
                 bias_init=nn.initializers.zeros, name=name)


class Norm(nn.Module):
  """The configured normalisation: 'instance', 'batch' or 'none'."""
  kind: str
  train: bool

  @nn.compact
  def __call__(self, x):
    if self.kind == 'instance':
      return instance_norm(x)
    if self.kind == 'batch':
      return BatchNorm(use_running_average=not self.train, momentum=0.1, epsilon=1e-5,
                       scale_init=dcgan_normal(0.02, 1.0), name='batch_norm')(x)
    return x


def _dropout(x, rate: float, train: bool):
  return nn.Dropout(rate, deterministic=not train or rate == 0.0)(x) if rate else x


class ResnetGenerator(nn.Module):
  out_channels: int
  features: int = 64
  blocks: int = 9
  norm: str = 'instance'
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm != 'batch'
    ngf = self.features
    x = _conv(ngf, 7, use_bias=bias, name='conv_in')(reflect_pad(x, 3))
    x = nn.relu(Norm(self.norm, train, name='norm_in')(x))
    for i in range(2):
      x = _conv(ngf * 2 ** (i + 1), 3, 2, 1, use_bias=bias, name=f'down_{i}')(x)
      x = nn.relu(Norm(self.norm, train, name=f'down_norm_{i}')(x))
    width = ngf * 4
    for i in range(self.blocks):
      h = _conv(width, 3, use_bias=bias, name=f'block_{i}_conv_0')(reflect_pad(x, 1))
      h = nn.relu(Norm(self.norm, train, name=f'block_{i}_norm_0')(h))
      h = _dropout(h, self.dropout, train)
      h = _conv(width, 3, use_bias=bias, name=f'block_{i}_conv_1')(reflect_pad(h, 1))
      x = x + Norm(self.norm, train, name=f'block_{i}_norm_1')(h)
    for i in range(2):
      x = ConvTransposeUp(ngf * 2 ** (1 - i), 3, use_bias=bias, name=f'up_{i}')(x)
      x = nn.relu(Norm(self.norm, train, name=f'up_norm_{i}')(x))
    x = _conv(self.out_channels, 7, name='conv_out')(reflect_pad(x, 3))
    return jnp.tanh(x)


class UnetGenerator(nn.Module):
  out_channels: int
  downs: int = 8
  features: int = 64
  norm: str = 'batch'
  dropout: float = 0.5

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm == 'instance'   # the reference: use_bias only with instance norm
    ngf, n = self.features, self.downs
    # Level i's down conv maps widths[i] -> widths[i + 1] (the image's channels at level 0).
    widths = [x.shape[-1]] + [ngf * min(2 ** i, 8) for i in range(n)]
    skips = []
    for i in range(n):
      if i > 0:
        x = nn.leaky_relu(x, 0.2)
      x = _conv(widths[i + 1], 4, 2, 1, use_bias=bias, name=f'down_{i}')(x)
      if 0 < i < n - 1:
        x = Norm(self.norm, train, name=f'down_norm_{i}')(x)
      skips.append(x)
    # Up from the innermost level: level i's up conv maps (level i+1's output, concatenated
    # with level i+1's skip where it has one) to the width of level i's input.
    for i in reversed(range(n)):
      if i < n - 1:
        x = jnp.concatenate([skips[i], x], axis=-1)   # torch.cat([x, model(x)], 1)
      x = nn.relu(x)
      outermost = i == 0
      out_width = self.out_channels if outermost else widths[i]
      x = ConvTransposeUp(out_width, 4, use_bias=True if outermost else bias, name=f'up_{i}')(x)
      if outermost:
        return jnp.tanh(x)
      x = Norm(self.norm, train, name=f'up_norm_{i}')(x)
      if 4 <= i <= n - 2:   # the unet_downs - 5 blocks next to the innermost
        x = _dropout(x, self.dropout, train)
    raise AssertionError('unreachable')


class PatchDiscriminator(nn.Module):
  features: int = 64
  layers: int = 3
  norm: str = 'instance'

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = self.norm != 'batch'
    ndf = self.features
    x = nn.leaky_relu(_conv(ndf, 4, 2, 1, name='conv_0')(x), 0.2)
    for n in range(1, self.layers + 1):
      stride = 2 if n < self.layers else 1
      x = _conv(ndf * min(2 ** n, 8), 4, stride, 1, use_bias=bias, name=f'conv_{n}')(x)
      x = nn.leaky_relu(Norm(self.norm, train, name=f'norm_{n}')(x), 0.2)
    return _conv(1, 4, 1, 1, name='logits')(x)[..., 0]


def patch_output_size(size: int, layers: int) -> int:
  """Side of the PatchGAN's logit map for a size x size input."""
  for _ in range(layers):
    size = (size + 2 - 4) // 2 + 1
  return size + 2 - 4 + 1 + 2 - 4 + 1


def size_multiple(model) -> int:
  """The generator takes images whose sides are multiples of this (any size otherwise): the
  resnet generator halves twice, the U-Net `unet_downs` times (unet_256 is built for 256x256,
  and a 512x512 image reaches its innermost level at 2x2)."""
  return 4 if model.generator == 'resnet' else 2 ** int(model.unet_downs)


def check_size(model, height: int, width: int, where: str = 'data.crop_size or data.image_size'):
  multiple = size_multiple(model)
  if height % multiple or width % multiple:
    raise ConfigError(f'the {model.generator} generator (model.unet_downs={model.unet_downs}) '
                      f'takes images whose sides are multiples of {multiple}, got {height}x{width} '
                      f'({where})' if model.generator == 'unet' else
                      f'the resnet generator halves the image twice, so it takes sides that are '
                      f'multiples of 4, got {height}x{width} ({where})')


@TRANSLATORS.register('resnet')
def _resnet(model, image_shape, out_channels):
  check_size(model, *image_shape[:2])
  return ResnetGenerator(out_channels, int(model.g_features), int(model.resnet_blocks),
                         model.norm, float(model.dropout))


@TRANSLATORS.register('unet')
def _unet(model, image_shape, out_channels):
  check_size(model, *image_shape[:2])
  return UnetGenerator(out_channels, int(model.unet_downs), int(model.g_features), model.norm,
                       float(model.dropout))


def make_translator(model, image_shape, out_channels: int) -> nn.Module:
  """The generator `model.generator` names, for input images of `image_shape`."""
  return TRANSLATORS.get(model.generator, 'model.generator')(model, image_shape, out_channels)


def make_patch_discriminator(model, image_shape) -> nn.Module:
  h = min(image_shape[:2])
  if patch_output_size(h, int(model.d_layers)) < 1:
    raise ConfigError(f'a PatchGAN with model.d_layers={model.d_layers} needs larger images '
                      f'than {image_shape[0]}x{image_shape[1]}; lower model.d_layers')
  return PatchDiscriminator(int(model.d_features), int(model.d_layers), model.norm)

