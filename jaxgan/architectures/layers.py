"""Building blocks shared by the architectures, with PyTorch semantics and layouts.

Kernels are stored (kh, kw, in, out) as Flax does; `jaxgan/porting.py`-style converters map
PyTorch weights onto them with a transpose. Initialisers reproduce PyTorch's defaults so that
training dynamics match the originals, not only the forward pass.
"""
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = Any


def torch_default_init(fan_in: int) -> Callable:
  """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases."""
  bound = 1.0 / jnp.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def dcgan_normal(stddev: float = 0.02, mean: float = 0.0) -> Callable:
  """N(mean, stddev): the DCGAN paper's initialisation (weights_init in pytorch/examples)."""
  def init(key, shape, dtype=jnp.float32):
    return mean + stddev * jax.random.normal(key, shape, dtype)
  return init


class Linear(nn.Module):
  """nn.Linear: kernel (in, out), PyTorch's default initialisation unless told otherwise."""
  features: int
  use_bias: bool = True
  kernel_init: Optional[Callable] = None

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init or torch_default_init(fan_in),
                        (fan_in, self.features))
    y = x @ kernel
    if self.use_bias:
      y = y + self.param('bias', torch_default_init(fan_in), (self.features,))
    return y


def conv_as_matmul(x: Array, kernel: Array, stride: int, padding: int) -> Array:
  """A 2-D convolution (NHWC, kernel HWIO, symmetric zero padding) as patches times a matrix.

  Its derivatives of every order are matrix products, strided slices and pads. XLA:CPU runs
  the second derivatives of a strided convolution (what a gradient penalty needs) as
  convolutions with dilated inputs and kernels that are very slow; this form made the WGAN-GP
  train step about 2x faster there. Exact up to float summation order; tested against
  `jax.lax.conv_general_dilated`.
  """
  batch, height, width, _ = x.shape
  kh, kw, cin, cout = kernel.shape
  out_h = (height + 2 * padding - kh) // stride + 1
  out_w = (width + 2 * padding - kw) // stride + 1
  if padding:
    x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  patches = jnp.concatenate(
      [x[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
       for i in range(kh) for j in range(kw)], axis=-1)          # [B, OH, OW, (kh, kw, cin)]
  y = patches.reshape(-1, kh * kw * cin) @ kernel.reshape(kh * kw * cin, cout)
  return y.reshape(batch, out_h, out_w, cout)


class Conv(nn.Module):
  """nn.Conv2d with symmetric zero padding `padding`, kernel (kh, kw, in, out).

  `via_matmul` computes it with `conv_as_matmul` (same parameters, same function)."""
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  kernel_init: Optional[Callable] = None
  via_matmul: bool = False

  @nn.compact
  def __call__(self, x):
    k, cin = self.kernel_size, x.shape[-1]
    fan_in = cin * k * k
    kernel = self.param('kernel', self.kernel_init or torch_default_init(fan_in),
                        (k, k, cin, self.features))
    if self.via_matmul:
      y = conv_as_matmul(x, kernel, self.stride, self.padding)
    else:
      y = jax.lax.conv_general_dilated(
          x, kernel, (self.stride, self.stride), [(self.padding, self.padding)] * 2,
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    if self.use_bias:
      y = y + self.param('bias', torch_default_init(fan_in), (self.features,))
    return y


def conv_transpose_reference(x: Array, kernel: Array, stride: int, padding: int) -> Array:
  """PyTorch ConvTranspose2d by definition: a conv over the stride-dilated input with the
  spatially flipped kernel. Kernel (kh, kw, in, out). Used by tests as the ground truth."""
  k = kernel.shape[0]
  pad = k - 1 - padding
  return jax.lax.conv_general_dilated(
      x, kernel[::-1, ::-1], (1, 1), [(pad, pad)] * 2, lhs_dilation=(stride, stride),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


# Taps of a 4-tap, stride-2, padding-1 transposed kernel that reach output phase r, in the order
# they meet a 2-wide window of the input padded by one: out[2m] = xp[m] w3 + xp[m+1] w1 and
# out[2m+1] = xp[m+1] w2 + xp[m+2] w0.
_PHASE_TAPS = ((3, 1), (2, 0))


def upsample2x_phase_conv(x: Array, kernel: Array, conv: Optional[Callable] = None) -> Array:
  """PyTorch ConvTranspose2d(kernel 4, stride 2, padding 1) as one stride-1 2x2 convolution.

  The four output phases (row parity x column parity) each see a fixed 2x2 subset of the 4x4
  kernel, so one convolution with 4x the output channels computes them all, and a
  depth-to-space interleave assembles the 2x image. On XLA:CPU this avoids the very slow
  weight gradient of a dilated-input convolution (jax-ml/jax#23783). Exact up to float
  summation order; tested against `conv_transpose_reference`.

  `conv(padded_x, phase_kernel)`, if given, computes the stride-1 convolution instead (the int8
  path of jaxgan/quantization.py passes int8 kernel values and runs it in int8).
  """
  assert kernel.shape[:2] == (4, 4), kernel.shape
  batch, height, width, _ = x.shape
  cout = kernel.shape[-1]
  taps = jnp.asarray(_PHASE_TAPS)                               # [phase, tap]
  # phase_kernel[th, tw, ci, r, c, co] = kernel[taps[r, th], taps[c, tw], ci, co]
  rows = kernel[taps.T]                                         # [th, r, kw, ci, co]
  phase_kernel = rows[:, :, taps.T]                             # [th, r, tw, c, ci, co]
  phase_kernel = phase_kernel.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, -1, 4 * cout)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  if conv is None:
    y = jax.lax.conv_general_dilated(xp, phase_kernel, (1, 1), 'VALID',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  else:
    y = conv(xp, phase_kernel)
  y = y.reshape(batch, height + 1, width + 1, 2, 2, cout)
  phases = jnp.stack([jnp.stack([y[:, r:r + height, c:c + width, r, c] for c in (0, 1)], axis=3)
                      for r in (0, 1)], axis=3)                 # [B, H, W, r, c, C]
  return phases.transpose(0, 1, 3, 2, 4, 5).reshape(batch, 2 * height, 2 * width, cout)


class ConvTranspose2x(nn.Module):
  """nn.ConvTranspose2d(in, out, 4, 2, 1): doubles height and width.

  Kernel (4, 4, in, out) holds PyTorch's weight[in, out, kh, kw] transposed, unflipped.
  """
  features: int
  use_bias: bool = True
  kernel_init: Optional[Callable] = None

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    # PyTorch computes a transposed conv's fan_in from weight.size(1) * k * k = out * 16.
    fan_in = self.features * 16
    kernel = self.param('kernel', self.kernel_init or torch_default_init(fan_in),
                        (4, 4, cin, self.features))
    y = upsample2x_phase_conv(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', torch_default_init(fan_in), (self.features,))
    return y


class ProjectNoise(nn.Module):
  """nn.ConvTranspose2d(nz, out, k, 1, 0) applied to a 1x1 input: a linear map to k x k x out."""
  features: int
  size: int
  use_bias: bool = True
  kernel_init: Optional[Callable] = None

  @nn.compact
  def __call__(self, z):
    nz = z.shape[-1]
    fan_in = self.features * self.size * self.size
    kernel = self.param('kernel', self.kernel_init or torch_default_init(fan_in),
                        (self.size, self.size, nz, self.features))
    y = jnp.einsum('bi,hwio->bhwo', z, kernel)
    if self.use_bias:
      y = y + self.param('bias', torch_default_init(fan_in), (self.features,))
    return y


class BatchNorm(nn.Module):
  """BatchNorm1d/2d with PyTorch's semantics, over the last axis (NHWC or [B, C]).

  Training mode normalises with the batch mean and biased variance and moves the running
  averages by `momentum` (PyTorch's convention: new = (1 - momentum) old + momentum batch),
  the running variance with the UNBIASED batch variance, as PyTorch does (flax.linen.BatchNorm
  uses the biased one). Evaluation mode uses the running averages. Variables have
  flax.linen.BatchNorm's names: params scale, bias; batch_stats mean, var.
  """
  use_running_average: bool
  momentum: float = 0.1
  epsilon: float = 1e-5
  scale_init: Callable = nn.initializers.ones
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    features = x.shape[-1]
    scale = self.param('scale', self.scale_init, (features,), jnp.float32)
    bias = self.param('bias', self.bias_init, (features,), jnp.float32)
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (features,), jnp.float32)
    if self.use_running_average:   # statistics are kept in float32; compute in x's dtype
      mean, var = running_mean.value.astype(x.dtype), running_var.value.astype(x.dtype)
    else:
      axes = tuple(range(x.ndim - 1))
      mean = x.mean(axes)
      var = jnp.square(x - mean).mean(axes)
      if not self.is_initializing():
        count = x.size // features
        unbiased = var * (count / max(count - 1, 1))
        m = self.momentum
        running_mean.value = (1 - m) * running_mean.value + m * jax.lax.stop_gradient(mean)
        running_var.value = (1 - m) * running_var.value + m * jax.lax.stop_gradient(unbiased)
    inv = jax.lax.rsqrt(var + self.epsilon) * scale
    return (x - mean) * inv + bias


def batch_norm(train: bool, init_like_dcgan: bool = False, name: Optional[str] = None):
  """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5) and running-variance update."""
  return BatchNorm(use_running_average=not train, momentum=0.1, epsilon=1e-5,
                   scale_init=dcgan_normal(0.02, 1.0) if init_like_dcgan else nn.initializers.ones,
                   name=name)
