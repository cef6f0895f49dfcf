"""ProGAN in PyTorch, written from the official TensorFlow code
(tkarras/progressive_growing_of_gans: networks.py G_paper / D_paper, loss.py G_wgan_acgan /
D_wgangp_acgan, train.py), for the parity tests (tests/test_progan_parity.py) and the speed
rows (benchmarks/speed.py, family 'progan').

The nets take the same `level` (0 is 4x4, level l is 4 * 2**l), `fade` and `alpha` as jaxgan's
(jaxgan/architectures/progan.py): a fading net at level l blends the lower level's output (G:
its to-RGB, upsampled; D: the from-RGB of the pooled image) with the new block's by alpha.
The official code's definitions, as used here:
  - equalized learning rate: weights stored N(0, 1), multiplied at run time by
    gain / sqrt(fan_in) (gain sqrt(2); 1 for to-RGB and D's last dense; sqrt(2) / 4 for G's
    first dense, "to match the original Theano implementation"); biases start at zero;
  - G: pixel norm (eps 1e-8) of the latent; 4x4: dense -> reshape [N, C, 4, 4] -> bias ->
    leaky ReLU 0.2 -> pixel norm -> 3x3 conv -> lrelu -> pixel norm; above: nearest 2x
    upsample -> conv -> lrelu -> PN -> conv -> lrelu -> PN; to-RGB a 1x1 conv, no activation;
  - D: from-RGB 1x1 conv + lrelu; above 4x4: conv -> lrelu -> conv -> lrelu -> 2x average pool;
    4x4: minibatch stddev (group 4: samples i, i + N/G, ... form a group; one extra feature
    map, appended last) -> conv -> lrelu -> dense -> lrelu -> dense (gain 1);
  - D's loss: mean over the batch of D(fake) - D(real) + lambda (||grad D(mixed)|| - 1)^2 +
    drift D(real)^2, mixed = lerp(real, fake, t), t ~ U[0, 1] per sample; G's: -D(G(z)) on
    fresh latents against the updated D; Adam (betas 0, 0.99, eps 1e-8) and an EMA of G.

Where the official code and jaxgan differ, this file follows the official code and says so:
  - the official code updates the EMA generator together with the D step (train.py runs
    `[D_train_op, Gs_update_op]`, then `G_train_op`), i.e. before G's update; jaxgan after.
    `TorchProGAN(original=False)` (the parity tests) updates it after, like jaxgan;
  - the official default `fused_scale=True` fuses G's upsample + conv into one transposed conv
    (the same function, with the kernel flipped) and D's conv + pool into one strided conv,
    which applies D's leaky ReLU after the pool, not before: a different function. jaxgan
    (and this file) build the separate form, the official code's `fused_scale=False`;
  - TensorFlow's Adam adds its epsilon to the uncorrected sqrt(v) (the bias correction goes
    into the step size), PyTorch's and optax's to the corrected one; torch.optim.Adam is used
    here, as jaxgan uses optax.adam.
"""
import copy
import math
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.torch_originals import steps

SQRT2 = math.sqrt(2.0)


def leaky_relu(x):
  return F.leaky_relu(x, 0.2)   # the official tf.maximum(0.2 x, x): the same for slope < 1


def pixel_norm(x, eps: float = 1e-8):
  """Each pixel's feature vector (NCHW: over channels) divided by its RMS."""
  return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def upscale2d(x, factor: int = 2):
  """Nearest neighbour, as the official reshape + tile."""
  if factor == 1:
    return x
  n, c, h, w = x.shape
  return x.reshape(n, c, h, 1, w, 1).expand(n, c, h, factor, w, factor).reshape(
      n, c, h * factor, w * factor)


def downscale2d(x, factor: int = 2):
  """Box filter (average pooling), as the official avg_pool."""
  return x if factor == 1 else F.avg_pool2d(x, factor)


def lerp(a, b, t):
  return a + (b - a) * t


def minibatch_stddev(x, group_size: int = 4):
  """The official minibatch_stddev_layer: [N, C, H, W] -> [N, C + 1, H, W]."""
  n, c, h, w = x.shape
  g = min(group_size, n)
  y = x.reshape(g, -1, c, h, w)                # [G, M, C, H, W]: sample i is in group i % M
  y = y - y.mean(dim=0, keepdim=True)
  y = torch.sqrt(y.square().mean(dim=0) + 1e-8)   # [M, C, H, W]
  y = y.mean(dim=(1, 2, 3), keepdim=True)      # [M, 1, 1, 1]
  y = y.repeat(g, 1, h, w)                     # [N, 1, H, W]
  return torch.cat([x, y], dim=1)


class EqualizedLinear(nn.Module):
  """The official `dense` (inputs flattened, NCHW order) with use_wscale, plus `apply_bias`."""

  def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, bias: bool = True):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(out_features, in_features))
    self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
    self.scale = gain / math.sqrt(in_features)

  def forward(self, x):
    return F.linear(x.flatten(1), self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
  """The official `conv2d` ('SAME', stride 1) with use_wscale, plus `apply_bias`."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = SQRT2):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
    self.bias = nn.Parameter(torch.zeros(out_channels))
    self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
    self.padding = kernel_size // 2

  def forward(self, x):
    return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def res_name(level: int) -> str:
  """The official scope name of a level's block ('4x4', '8x8', ...)."""
  r = 4 * 2 ** level
  return f'{r}x{r}'


class GeneratorBlock(nn.Module):

  def __init__(self, in_features: int, features: int, first: bool):
    super().__init__()
    self.first, self.features = first, features
    if first:
      self.dense = EqualizedLinear(in_features, 16 * features, gain=SQRT2 / 4, bias=False)
      self.dense_bias = nn.Parameter(torch.zeros(features))   # per channel, after the reshape
      self.conv = EqualizedConv2d(features, features, 3)
    else:
      self.conv0 = EqualizedConv2d(in_features, features, 3)
      self.conv1 = EqualizedConv2d(features, features, 3)

  def forward(self, x):
    if self.first:
      x = self.dense(x).reshape(-1, self.features, 4, 4) + self.dense_bias.reshape(1, -1, 1, 1)
      x = pixel_norm(leaky_relu(x))
      return pixel_norm(leaky_relu(self.conv(x)))
    x = pixel_norm(leaky_relu(self.conv0(upscale2d(x))))
    return pixel_norm(leaky_relu(self.conv1(x)))


class TorchProGenerator(nn.Module):
  """G_paper up to `level`: latents [N, latent_dim] -> images [N, channels, R, R]."""

  def __init__(self, level: int, fade: bool, widths: Sequence[int], channels: int, latent_dim: int):
    super().__init__()
    if fade and level == 0:
      raise ValueError('the 4x4 level has no lower level to fade from')
    self.level, self.fade = level, fade
    self.blocks = nn.ModuleDict()
    previous = latent_dim
    for level_i in range(level + 1):
      self.blocks[res_name(level_i)] = GeneratorBlock(previous, widths[level_i], level_i == 0)
      previous = widths[level_i]
    # to-RGB of this level, and of the level below while fading in.
    self.to_rgb = nn.ModuleDict(
        {res_name(level): EqualizedConv2d(widths[level], channels, 1, gain=1.0)})
    if fade:
      self.to_rgb[res_name(level - 1)] = EqualizedConv2d(widths[level - 1], channels, 1, gain=1.0)

  def forward(self, latents, alpha=1.0):
    x = pixel_norm(latents)
    lower = None
    for level_i, block in enumerate(self.blocks.values()):
      if level_i == self.level and self.fade:
        lower = x
      x = block(x)
    images = self.to_rgb[res_name(self.level)](x)
    if lower is None:
      return images
    # The official 'Grow_lod' lerp: lerp(new, upscaled old, lod fraction = 1 - alpha).
    previous = upscale2d(self.to_rgb[res_name(self.level - 1)](lower))
    return lerp(images, previous, 1.0 - alpha)


class DiscriminatorBlock(nn.Module):

  def __init__(self, features: int, out_features: int, last: bool, group_size: int = 4):
    super().__init__()
    self.last, self.group_size = last, group_size
    if last:
      self.conv = EqualizedConv2d(features + 1, features, 3)   # + the stddev feature map
      self.dense0 = EqualizedLinear(16 * features, out_features)
      self.dense1 = EqualizedLinear(out_features, 1, gain=1.0)
    else:
      self.conv0 = EqualizedConv2d(features, features, 3)
      self.conv1 = EqualizedConv2d(features, out_features, 3)

  def forward(self, x):
    if self.last:
      x = minibatch_stddev(x, self.group_size)
      x = leaky_relu(self.conv(x))
      x = leaky_relu(self.dense0(x))
      return self.dense1(x)
    x = leaky_relu(self.conv0(x))
    return downscale2d(leaky_relu(self.conv1(x)))   # the official fused_scale=False order


class TorchProDiscriminator(nn.Module):
  """D_paper up to `level`: images [N, channels, R, R] -> scores [N]."""

  def __init__(self, level: int, fade: bool, widths: Sequence[int], channels: int,
               group_size: int = 4):
    super().__init__()
    if fade and level == 0:
      raise ValueError('the 4x4 level has no lower level to fade from')
    self.level, self.fade = level, fade
    self.from_rgb = nn.ModuleDict({res_name(level): EqualizedConv2d(channels, widths[level], 1)})
    if fade:
      self.from_rgb[res_name(level - 1)] = EqualizedConv2d(channels, widths[level - 1], 1)
    self.blocks = nn.ModuleDict()
    for level_i in range(level, -1, -1):
      # 4x4: the official Dense0 has nf(0) features, here (as in jaxgan) the 4x4 width.
      out = widths[max(level_i - 1, 0)]
      self.blocks[res_name(level_i)] = DiscriminatorBlock(widths[level_i], out, level_i == 0,
                                                          group_size=group_size)

  def forward(self, images, alpha=1.0):
    x = leaky_relu(self.from_rgb[res_name(self.level)](images))
    for i, block in enumerate(self.blocks.values()):   # from this level down to 4x4
      x = block(x)
      if i == 0 and self.fade:
        lower = leaky_relu(self.from_rgb[res_name(self.level - 1)](downscale2d(images)))
        x = lerp(x, lower, 1.0 - alpha)      # the official 'Grow_lod' lerp
    return x[:, 0]


# ---------------------------------------------------------------------------------------------
# jaxgan parameters -> these modules. jaxgan names submodules per resolution (block_8,
# to_rgb_8, from_rgb_8; conv0 / conv1 / dense / dense0 / dense1 inside), stores conv kernels
# HWIO and dense kernels [in, out], and flattens / reshapes NHWC.

def _conv(kernel):
  return np.ascontiguousarray(np.asarray(kernel).transpose(3, 2, 0, 1))      # HWIO -> OIHW


def _resolution_of(name: str) -> int:
  return int(name.rsplit('_', 1)[1])


def _level_name(name: str) -> str:
  r = _resolution_of(name)
  return f'{r}x{r}'


def generator_state_dict(params) -> Dict[str, np.ndarray]:
  """The state dict of `TorchProGenerator` holding a jaxgan ProGenerator's parameters."""
  out = {}
  for name, module in params.items():
    key = _level_name(name)
    if name.startswith('to_rgb_'):
      out[f'to_rgb.{key}.weight'] = _conv(module['kernel'])
      out[f'to_rgb.{key}.bias'] = np.asarray(module['bias'])
      continue
    if not name.startswith('block_'):
      raise ValueError(f'unexpected generator parameters {name!r}')
    prefix = f'blocks.{key}'
    if _resolution_of(name) == 4:
      kernel = np.asarray(module['dense']['kernel'])
      latent, units = kernel.shape
      c = units // 16
      # jaxgan reshapes the dense output to [4, 4, C] (NHWC), the official code to [C, 4, 4].
      out[f'{prefix}.dense.weight'] = np.ascontiguousarray(
          kernel.reshape(latent, 4, 4, c).transpose(0, 3, 1, 2).reshape(latent, units).T)
      out[f'{prefix}.dense_bias'] = np.asarray(module['dense_bias']).copy()
      conv_names = {'conv1': 'conv'}
      expected = {'dense', 'dense_bias', 'conv1'}
    else:
      conv_names = {'conv0': 'conv0', 'conv1': 'conv1'}
      expected = set(conv_names)
    if set(module) != expected:
      raise ValueError(f'{name}: expected {sorted(expected)}, got {sorted(module)}')
    for flax_name, torch_name in conv_names.items():
      out[f'{prefix}.{torch_name}.weight'] = _conv(module[flax_name]['kernel'])
      out[f'{prefix}.{torch_name}.bias'] = np.asarray(module[flax_name]['bias'])
  return out


def discriminator_state_dict(params) -> Dict[str, np.ndarray]:
  """The state dict of `TorchProDiscriminator` holding a jaxgan ProDiscriminator's parameters."""
  out = {}
  for name, module in params.items():
    key = _level_name(name)
    if name.startswith('from_rgb_'):
      out[f'from_rgb.{key}.weight'] = _conv(module['kernel'])
      out[f'from_rgb.{key}.bias'] = np.asarray(module['bias'])
      continue
    if not name.startswith('block_'):
      raise ValueError(f'unexpected discriminator parameters {name!r}')
    prefix = f'blocks.{key}'
    if _resolution_of(name) == 4:
      if set(module) != {'conv0', 'dense0', 'dense1'}:
        raise ValueError(f'{name}: expected conv0, dense0, dense1, got {sorted(module)}')
      out[f'{prefix}.conv.weight'] = _conv(module['conv0']['kernel'])
      out[f'{prefix}.conv.bias'] = np.asarray(module['conv0']['bias'])
      kernel = np.asarray(module['dense0']['kernel'])
      units, features = kernel.shape
      c = units // 16
      # jaxgan flattens [4, 4, C] (NHWC), the official code [C, 4, 4].
      out[f'{prefix}.dense0.weight'] = np.ascontiguousarray(
          kernel.reshape(4, 4, c, features).transpose(2, 0, 1, 3).reshape(units, features).T)
      out[f'{prefix}.dense0.bias'] = np.asarray(module['dense0']['bias'])
      out[f'{prefix}.dense1.weight'] = np.ascontiguousarray(
          np.asarray(module['dense1']['kernel']).T)
      out[f'{prefix}.dense1.bias'] = np.asarray(module['dense1']['bias'])
      continue
    if set(module) != {'conv0', 'conv1'}:
      raise ValueError(f'{name}: expected conv0, conv1, got {sorted(module)}')
    for conv in ('conv0', 'conv1'):
      out[f'{prefix}.{conv}.weight'] = _conv(module[conv]['kernel'])
      out[f'{prefix}.{conv}.bias'] = np.asarray(module[conv]['bias'])
  return out


def load_flax_params(net: nn.Module, params) -> None:
  """Copies a jaxgan ProGenerator / ProDiscriminator parameter tree into `net` (strict: every
  parameter on both sides, shapes equal), in the net's dtype."""
  to_state_dict = (generator_state_dict if isinstance(net, TorchProGenerator)
                   else discriminator_state_dict)
  state = to_state_dict(params)
  own = net.state_dict()
  if state.keys() != own.keys():
    raise ValueError(f'parameters differ: only jaxgan {sorted(state.keys() - own.keys())}, '
                     f'only torch {sorted(own.keys() - state.keys())}')
  net.load_state_dict({k: torch.from_numpy(np.array(v)).to(own[k].dtype) for k, v in state.items()})


# ---------------------------------------------------------------------------------------------
# Training.

def level_of_phase(phase: str):
  """'stable_8' -> (1, False), 'fade_16' -> (2, True): jaxgan's phase names."""
  kind, size = phase.split('_')
  return int(math.log2(int(size) // 4)), kind == 'fade'


def phase_batch_size(config, level: int) -> int:
  """The minibatch of a level: its entry of progan.batch_sizes, else train.batch_size."""
  sizes = tuple(config.progan.get('batch_sizes', ()) or ())
  return int(sizes[level]) if sizes else int(config.train.batch_size)


class TorchProGAN:
  """Both nets of one phase (`level`, `fade`), their Adam optimizers, the EMA generator and the
  official iteration: one D step (WGAN-GP + drift), then one G step against the updated D.
  The optimizers start empty, as at every resolution change in the official code (and jaxgan);
  build one per phase. `original=True` updates the EMA with the D step (the official order),
  False after the G step (jaxgan's)."""

  def __init__(self, config, image_shape, level: int, fade: bool, original: bool = False):
    if config.trainer != 'progan':
      raise NotImplementedError(f'not a ProGAN config: trainer={config.trainer!r}')
    if config.optim.get('schedule', 'constant') != 'constant':
      raise NotImplementedError(f'optim.schedule={config.optim.schedule!r}')
    self.level, self.fade, self.original = level, fade, original
    self.image_size = int(image_shape[0])
    self.resolution = 4 * 2 ** level
    self.latent_dim = int(config.model.latent_dim)
    self.gp_weight = float(config.progan.gp_weight)
    self.drift = float(config.progan.drift)
    self.ema_decay = float(config.progan.ema)
    widths, channels = tuple(config.model.widths), int(image_shape[-1])
    self.netG = TorchProGenerator(level, fade, widths, channels, self.latent_dim)
    self.netD = TorchProDiscriminator(level, fade, widths, channels, int(config.model.mbstd_group))
    self.netG_ema = copy.deepcopy(self.netG).requires_grad_(False)
    self.optimizerG = steps.make_optimizer(config.optim, self.netG.parameters(), config.optim.lr)
    self.optimizerD = steps.make_optimizer(config.optim, self.netD.parameters(), config.optim.lr)
    # Forward callables; `compile()` swaps in torch.compile'd versions of the same modules.
    self.G, self.D = self.netG, self.netD

  def compile(self, **kwargs):
    # As steps.TorchGAN.compile: the penalty's double backward is what torch.compile refuses.
    torch._functorch.config.donated_buffer = False
    self.G = torch.compile(self.netG, **kwargs)
    self.D = torch.compile(self.netD, **kwargs)
    return self

  def to(self, device=None, dtype=None):
    # Before the first step: the optimizers' state is still empty.
    for net in (self.netG, self.netD, self.netG_ema):
      net.to(device=device, dtype=dtype)
    return self

  def train(self):
    self.netG.train()
    self.netD.train()
    return self

  def load_flax(self, g_params, d_params, g_ema_params=None):
    load_flax_params(self.netG, g_params)
    load_flax_params(self.netD, d_params)
    load_flax_params(self.netG_ema, g_params if g_ema_params is None else g_ema_params)
    return self

  def real_images(self, images, alpha=1.0):
    """Data-size images [N, C, S, S] -> the phase's resolution (box filter); fading, blended
    with their 2x-down-then-up version (the official process_reals 'FadeLOD')."""
    x = downscale2d(images, self.image_size // self.resolution)
    if self.fade:
      x = lerp(x, upscale2d(downscale2d(x)), 1.0 - alpha)
    return x

  def d_loss(self, real, fake, mixing, alpha=1.0):
    """The official D_wgangp_acgan, averaged over the batch as train.py does; `mixing` [N, 1,
    1, 1] is its t (mixed = real + (fake - real) t). Returns (loss, its terms)."""
    real_scores, fake_scores = self.D(real, alpha), self.D(fake, alpha)
    mixed = lerp(real, fake, mixing).requires_grad_(True)
    mixed_scores = self.D(mixed, alpha)
    grads, = torch.autograd.grad(mixed_scores.sum(), mixed, create_graph=True)
    norms = grads.square().sum(dim=(1, 2, 3)).sqrt()
    wasserstein = fake_scores.mean() - real_scores.mean()
    penalty = (norms - 1.0).square().mean()
    drift = real_scores.square().mean()
    loss = wasserstein + self.gp_weight * penalty + self.drift * drift
    return loss, {'d_loss': wasserstein, 'penalty': penalty, 'drift': drift,
                  'd_real': real_scores.mean(), 'd_fake': fake_scores.mean()}

  @torch.no_grad()
  def _update_ema(self):
    # The official setup_as_moving_average_of: lerp(new, old, beta).
    for ema, param in zip(self.netG_ema.parameters(), self.netG.parameters()):
      ema.copy_(lerp(param, ema, self.ema_decay))

  def step(self, images, alpha=1.0, latents_d=None, latents_g=None, mixing=None):
    """One iteration on images [N, C, S, S] in [-1, 1] (any size S the phase's resolution
    divides); latents [N, latent_dim] and mixing [N, 1, 1, 1] are drawn here unless given (the
    parity tests feed jaxgan's). Returns the D loss terms and g_loss, detached."""
    real = self.real_images(images, alpha)
    n = real.shape[0]
    draw = lambda *shape: torch.randn(*shape, dtype=real.dtype, device=real.device)
    latents_d = draw(n, self.latent_dim) if latents_d is None else latents_d
    latents_g = draw(n, self.latent_dim) if latents_g is None else latents_g
    if mixing is None:
      mixing = torch.rand(n, 1, 1, 1, dtype=real.dtype, device=real.device)

    with torch.no_grad():    # the D step differentiates D's variables only
      fake = self.G(latents_d, alpha)
    self.optimizerD.zero_grad(set_to_none=True)
    loss, terms = self.d_loss(real, fake, mixing, alpha)
    loss.backward()
    self.optimizerD.step()
    if self.original:
      self._update_ema()

    self.netD.requires_grad_(False)   # the G step differentiates G's variables only
    self.optimizerG.zero_grad(set_to_none=True)
    g_loss = -self.D(self.G(latents_g, alpha), alpha).mean()
    g_loss.backward()
    self.optimizerG.step()
    self.netD.requires_grad_(True)
    if not self.original:
      self._update_ema()
    terms['g_loss'] = g_loss
    return {k: v.detach() for k, v in terms.items()}
