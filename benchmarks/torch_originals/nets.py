"""PyTorch networks faithful to the originals that jaxgan reimplements.

Layouts follow the originals (NCHW images, `nn.Sequential` stacks named as in the originals),
so a checkpoint saved by the original scripts loads here and ports to jaxgan with
`jaxgan.porting.torch_to_flax`. Each builder takes the same `config.model` fields and image
shape (H, W, C) as the matching jaxgan registry entry, so one config builds both sides.

- `MLPGenerator` / `MLPDiscriminator`: the tutorial fully connected GAN (G z-256-512-1024-HWC
  with ReLU and Tanh; D HWC-512-256-1 with LeakyReLU 0.2), optionally with BatchNorm1d after
  each hidden Linear (the "BN-MLP" generator of configs/bn_gan.py).
- `DCGANGenerator` / `DCGANDiscriminator`: pytorch/examples `dcgan/main.py`, generalised from
  64x64 to any size s0 * 2^n exactly as `jaxgan.architectures.dcgan` is (for 64x64 the layer
  list is the original's, index for index). `weights_init` is the original's.
"""
import math

import torch
from torch import nn

from jaxgan.architectures.dcgan import factor_size


def weights_init(m):
  """pytorch/examples dcgan: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02), bias 0."""
  classname = m.__class__.__name__
  if classname.find('Conv') != -1:
    nn.init.normal_(m.weight, 0.0, 0.02)
  elif classname.find('BatchNorm') != -1:
    nn.init.normal_(m.weight, 1.0, 0.02)
    nn.init.zeros_(m.bias)


class MLPGenerator(nn.Module):

  def __init__(self, latent_dim, hidden, image_shape, use_batch_norm=False, leaky_slope=0.0):
    super().__init__()
    height, width, channels = image_shape
    self.image_shape_nchw = (channels, height, width)
    layers, last = [], latent_dim
    for size in hidden:
      layers.append(nn.Linear(last, size))
      if use_batch_norm:
        layers.append(nn.BatchNorm1d(size))  # eps 1e-5, momentum 0.1 (not BatchNorm1d(size, 0.8))
      layers.append(nn.LeakyReLU(leaky_slope, inplace=True) if leaky_slope else nn.ReLU(inplace=True))
      last = size
    layers += [nn.Linear(last, math.prod(image_shape)), nn.Tanh()]
    self.model = nn.Sequential(*layers)

  def forward(self, z):
    return self.model(z).view(z.shape[0], *self.image_shape_nchw)


class MLPDiscriminator(nn.Module):
  """Returns logits (the tutorial pairs it with BCEWithLogitsLoss)."""

  def __init__(self, hidden, image_shape, leaky_slope=0.2, use_batch_norm=False):
    super().__init__()
    layers, last = [], math.prod(image_shape)
    for size in hidden:
      layers.append(nn.Linear(last, size))
      if use_batch_norm:
        layers.append(nn.BatchNorm1d(size))
      layers.append(nn.LeakyReLU(leaky_slope, inplace=True))
      last = size
    layers.append(nn.Linear(last, 1))
    self.model = nn.Sequential(*layers)

  def forward(self, image):
    return self.model(image.reshape(image.shape[0], -1)).squeeze(1)


class DCGANGenerator(nn.Module):
  """pytorch/examples `Generator`: z [B, nz, 1, 1] (or [B, nz]) -> image [B, C, H, W]."""

  def __init__(self, latent_dim, image_shape, ngf=64, use_batch_norm=True):
    super().__init__()
    base, doublings = factor_size(*image_shape[:2])
    width = ngf * 2 ** (doublings - 1)
    layers = [nn.ConvTranspose2d(latent_dim, width, base, 1, 0, bias=False)]
    for i in range(doublings):
      if use_batch_norm:
        layers.append(nn.BatchNorm2d(width))
      layers.append(nn.ReLU(True))
      out = image_shape[-1] if i == doublings - 1 else width // 2
      layers.append(nn.ConvTranspose2d(width, out, 4, 2, 1, bias=False))
      width = out
    layers.append(nn.Tanh())
    self.main = nn.Sequential(*layers)

  def forward(self, z):
    if z.dim() == 2:
      z = z[:, :, None, None]
    return self.main(z)


class DCGANDiscriminator(nn.Module):
  """pytorch/examples `Discriminator`: image [B, C, H, W] -> [B].

  `sigmoid=True` is the original (Sigmoid last, trained with BCELoss); `sigmoid=False` returns
  logits, the form jaxgan uses (BCE on logits), with the same state dict.
  """

  def __init__(self, image_shape, ndf=64, use_batch_norm=True, leaky_slope=0.2, sigmoid=False):
    super().__init__()
    base, doublings = factor_size(*image_shape[:2])
    layers, last = [], image_shape[-1]
    for i in range(doublings):
      layers.append(nn.Conv2d(last, ndf * 2 ** i, 4, 2, 1, bias=False))
      if use_batch_norm and i > 0:
        layers.append(nn.BatchNorm2d(ndf * 2 ** i))
      layers.append(nn.LeakyReLU(leaky_slope, inplace=True))
      last = ndf * 2 ** i
    layers.append(nn.Conv2d(last, 1, base, 1, 0, bias=False))
    if sigmoid:
      layers.append(nn.Sigmoid())
    self.main = nn.Sequential(*layers)
    self.sigmoid = sigmoid

  def forward(self, image):
    return self.main(image).view(-1, 1).squeeze(1)


# Builders by jaxgan registry name: (config.model, image_shape (H, W, C)) -> nn.Module.
def _mlp_generator(model, image_shape):
  slope = model.leaky_slope if model.get('g_activation', 'relu') == 'leaky_relu' else 0.0
  return MLPGenerator(model.latent_dim, tuple(model.g_hidden), tuple(image_shape), model.g_batch_norm,
                      slope)


def _mlp_discriminator(model, image_shape, sigmoid=False):
  del sigmoid  # the tutorial MLP always trains on logits
  return MLPDiscriminator(tuple(model.d_hidden), tuple(image_shape), model.leaky_slope,
                          model.d_batch_norm)


def _dcgan_generator(model, image_shape):
  net = DCGANGenerator(model.latent_dim, tuple(image_shape), model.g_features, model.g_batch_norm)
  net.apply(weights_init)
  return net


def _dcgan_discriminator(model, image_shape, sigmoid=False):
  net = DCGANDiscriminator(tuple(image_shape), model.d_features, model.d_batch_norm,
                           model.leaky_slope, sigmoid)
  net.apply(weights_init)
  return net


GENERATORS = {'mlp': _mlp_generator, 'dcgan': _dcgan_generator}
DISCRIMINATORS = {'mlp': _mlp_discriminator, 'dcgan': _dcgan_discriminator}


def make_generator(model, image_shape) -> nn.Module:
  if model.generator not in GENERATORS:
    raise NotImplementedError(f'no PyTorch original for generator {model.generator!r} yet; '
                              f'have: {", ".join(sorted(GENERATORS))}')
  return GENERATORS[model.generator](model, image_shape)


def make_discriminator(model, image_shape, sigmoid=False) -> nn.Module:
  if model.discriminator not in DISCRIMINATORS:
    raise NotImplementedError(f'no PyTorch original for discriminator {model.discriminator!r} '
                              f'yet; have: {", ".join(sorted(DISCRIMINATORS))}')
  return DISCRIMINATORS[model.discriminator](model, image_shape, sigmoid)
