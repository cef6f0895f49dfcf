"""InfoGAN's own MNIST networks (Chen et al. 2016, Appendix C.1; openai/InfoGAN
`RegularizedGAN(network_type='mnist')`).

Generator: z -> FC `g_hidden` (1024) -> BatchNorm -> ReLU -> FC s x s x 2*g_features (7x7x128)
  -> BatchNorm -> ReLU -> 4x4 stride-2 transposed conv g_features (64) -> BatchNorm -> ReLU
  -> 4x4 stride-2 transposed conv to the image channels -> tanh (images in [-1, 1]; the
  original's Bernoulli mean is the same map onto [0, 1]).
Discriminator body: 4x4 stride-2 conv d_features (64) -> LeakyReLU 0.2 -> 4x4 stride-2 conv
  2*d_features (128) -> BatchNorm -> LeakyReLU -> FC `d_hidden` (1024) -> BatchNorm ->
  LeakyReLU. D's logit is one FC on that body; the Q head shares the whole body:
  FC q_hidden (128) -> BatchNorm -> LeakyReLU -> FC code outputs.

The Q head carries its own BatchNorm here (as the original's does), so this net builds it
itself rather than through heads.finish_logit's plain one; minibatch features and projection
conditioning still come from heads. Sizes: images s * 4 (28 -> s = 7). Weights N(0, 0.02),
BatchNorm scale N(1, 0.02), biases only where no BatchNorm follows.
"""
import dataclasses
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.architectures import DISCRIMINATORS, GENERATORS, heads
from jaxgan.architectures.layers import Conv, ConvTranspose2x, Linear, batch_norm, dcgan_normal
from jaxgan.errors import ConfigError


def _base_size(image_shape) -> int:
  height, width = image_shape[:2]
  if height != width or height % 4:
    raise ConfigError(f'the infogan nets need square images whose side is a multiple of 4 '
                      f'(28 for digits), got {height}x{width}; set data.image_size')
  return height // 4


class InfoGANGenerator(nn.Module):
  image_shape: Tuple[int, int, int]
  hidden: Sequence[int] = (1024,)
  features: int = 64
  options: Optional[heads.Options] = None   # conditioning only

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    x = heads.condition_latent(self.options, z, labels)
    base = _base_size(self.image_shape)
    init = dcgan_normal(0.02)
    for i, width in enumerate(tuple(self.hidden) + (base * base * 2 * self.features,)):
      x = Linear(width, use_bias=False, kernel_init=init, name=f'linear_{i}')(x)
      x = nn.relu(batch_norm(train, init_like_dcgan=True, name=f'bn_linear_{i}')(x))
    x = x.reshape(x.shape[0], base, base, 2 * self.features)
    x = ConvTranspose2x(self.features, use_bias=False, kernel_init=init, name='up_0')(x)
    x = nn.relu(batch_norm(train, init_like_dcgan=True, name='bn_up_0')(x))
    x = ConvTranspose2x(self.image_shape[-1], kernel_init=init, name='up_1')(x)
    return jnp.tanh(x)


class InfoGANDiscriminator(nn.Module):
  image_shape: Tuple[int, int, int]
  hidden: Sequence[int] = (1024,)
  features: int = 64
  leaky_slope: float = 0.2
  options: Optional[heads.Options] = None   # Q head, minibatch features, conditioning
  strided_conv_via_matmul: bool = False

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    x = heads.condition_input(self.options, x, labels)
    _base_size(self.image_shape)
    init = dcgan_normal(0.02)
    act = lambda h: nn.leaky_relu(h, self.leaky_slope)
    x = act(Conv(self.features, 4, 2, 1, kernel_init=init, via_matmul=self.strided_conv_via_matmul,
                 name='down_0')(x))
    x = Conv(2 * self.features, 4, 2, 1, use_bias=False, kernel_init=init,
             via_matmul=self.strided_conv_via_matmul, name='down_1')(x)
    x = act(batch_norm(train, init_like_dcgan=True, name='bn_down_1')(x))
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      x = Linear(width, use_bias=False, kernel_init=init, name=f'linear_{i}')(x)
      x = act(batch_norm(train, init_like_dcgan=True, name=f'bn_linear_{i}')(x))
    logits = Linear(1, kernel_init=init, name='out')(x)[:, 0]
    q_outputs = self.options.q_outputs if self.options is not None else 0
    others = None if self.options is None else dataclasses.replace(self.options, q_outputs=0)
    logits = heads.finish_logit(None if others == heads.Options() else others, logits, x, labels)
    if not q_outputs:
      return logits
    h = Linear(self.options.q_hidden, use_bias=False, kernel_init=init, name='q_hidden')(x)
    h = act(batch_norm(train, init_like_dcgan=True, name='bn_q_hidden')(h))
    return logits, Linear(q_outputs, kernel_init=init, name='q_out')(h)


@GENERATORS.register('infogan')
def _make_generator(model, image_shape, num_classes, options=None):
  del num_classes
  _base_size(image_shape)
  return InfoGANGenerator(tuple(image_shape), tuple(model.g_hidden), model.g_features, options)


@DISCRIMINATORS.register('infogan')
def _make_discriminator(model, image_shape, num_classes, options=None):
  del num_classes
  _base_size(image_shape)
  return InfoGANDiscriminator(tuple(image_shape), tuple(model.d_hidden), model.d_features,
                              model.leaky_slope, options, model.d_conv == 'matmul')
