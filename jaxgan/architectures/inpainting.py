"""The DeepFill v2 networks (Yu et al., "Free-Form Image Inpainting with Gated Convolution",
2019; JiahuiYu/generative_inpainting, TensorFlow: inpaint_model.py `build_inpaint_net` and
`build_sn_patch_gan_discriminator`, inpaint_ops.py `gen_conv`, `gen_deconv` and
`contextual_attention`), layer for layer, with the reference's layer names:

  GatedConv            `gen_conv`: a 'SAME' convolution whose output channels split in half,
                       ELU(first half) * sigmoid(second half). Widths: the reference's
                       gen_conv(x, cnum) makes cnum filters and outputs cnum / 2 channels;
                       here `features` is the output, so gen_conv(x, cnum) is
                       GatedConv(cnum // 2), with the same kernel [k, k, in, cnum].
  GatedUpsample        `gen_deconv`: nearest-neighbour x2, then a gated 3x3 convolution.
  contextual_attention DeepFill v1's layer (the v2 net keeps it): every position of the
                       foreground attends, by cosine similarity of 3x3 patches at half
                       resolution, to the background patches outside the hole, and the raw
                       full-resolution background patches are pasted back with those weights.
  DeepFillV2Generator  the coarse stage (a gated encoder-decoder with dilated convolutions)
                       and the refinement stage (a dilated "hallucination" branch next to an
                       attention branch), each ending in an un-gated convolution and tanh.
  SNPatchGAN           six spectral-normalised 5x5 stride-2 convolutions with leaky ReLU, the
                       output flattened so the hinge loss applies to every element.

Initialisation is TensorFlow's tf.layers.conv2d default (Glorot-uniform kernels, zero biases).
Images are NHWC in [-1, 1]; masks [B, H, W, 1] with 1 marking the hole, one per image (the
reference draws one mask per batch). Kernels keep the reference's HWIO layout, so a variable
`inpaint_net/conv1/kernel` of the reference's checkpoint is `params['conv1']['kernel']` here.

Two deliberate deviations, both in how images are resized:
  * nearest-neighbour resizes are pixel repetition (x2 up) and subsampling x[:, ::r, ::r]
    (down), as the widely used PyTorch port (daa233/generative-inpainting-pytorch) does. The
    reference's neuralgym `resize` calls tf.image.resize_nearest_neighbor with
    align_corners=True, which picks slightly different source pixels (it stretches the grid
    so both corners line up);
  * the mask for the attention layer is subsampled the same way (`resize_mask_like`).
"""
from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

glorot_uniform = nn.initializers.glorot_uniform()   # tf.layers.conv2d's kernel default
# The generator's kernel initialisations (`model.init`). 'reference' is TensorFlow's default,
# under which each gated layer shrinks its input's variance about five-fold (ELU(x) times a
# sigmoid of mean 1/2), so after the 30-odd layers of the two stages the output starts near
# 1e-7 (measured: std 6e-8 at cnum 16) and early training crawls. 'gated' scales Glorot's
# variance by 7.5, which keeps the signal: output std about 0.4 at initialisation.
GENERATOR_INITS = {'reference': glorot_uniform,
                   'gated': nn.initializers.variance_scaling(7.5, 'fan_avg', 'uniform')}
PREFILLS = ('none', 'push_pull', 'biharmonic')   # model.prefill: see DeepFillV2Generator


class GatedConv(nn.Module):
  """`gen_conv`: conv (2 * features filters, 'SAME', stride, dilation), then
  activation(first half) * sigmoid(second half). `gated=False` is the reference's output
  layer: `features` filters and no activation."""
  features: int
  kernel_size: int
  strides: int = 1
  dilation: int = 1
  gated: bool = True
  activation: Callable = nn.elu
  kernel_init: Callable = glorot_uniform
  porting_kind = 'conv'   # jaxgan.porting maps it as a Conv2d

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    filters = 2 * self.features if self.gated else self.features
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], filters))
    bias = self.param('bias', nn.initializers.zeros, (filters,))
    dtype = jnp.promote_types(x.dtype, kernel.dtype)   # as nn.Conv promotes
    # 'SAME' pads the dilated kernel's extent: TensorFlow's rule (more at the end when odd).
    y = jax.lax.conv_general_dilated(
        x.astype(dtype), kernel.astype(dtype), (self.strides,) * 2, 'SAME',
        rhs_dilation=(self.dilation,) * 2, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    y = y + bias.astype(dtype)
    if not self.gated:
      return y
    features, gate = jnp.split(y, 2, axis=-1)
    return self.activation(features) * jax.nn.sigmoid(gate)


def _sum_2x2(x):
  """Sums the 2x2 cells of [N, H, W, C]; an odd side gets a zero row or column first."""
  n, h, w, c = x.shape
  x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
  return x.reshape(n, (h + 1) // 2, 2, (w + 1) // 2, 2, c).sum((2, 4))


def push_pull_fill(image, mask):
  """A smooth fill of the holes by push-pull interpolation (Gortler et al., "The Lumigraph",
  1996): the known pixels are summed down an image pyramid to 1x1 ("push"), then each level's
  holes take the bilinearly upsampled coarser level, cells with any known pixel keep their own
  mean ("pull"). Images [N, H, W, C], masks [N, H, W, 1] (1 = hole); known pixels come back
  unchanged. A dozen reductions and resizes, so it costs nothing next to the networks; on the
  offline held-out crops it scores within 1 dB of scikit-image's biharmonic fill inside the
  hole (24.96 against 25.81 dB PSNR, measured), far above a mean-colour fill (20.5 dB)."""
  known = 1.0 - mask
  sums, counts = [image * known], [known]
  while sums[-1].shape[1] > 1 or sums[-1].shape[2] > 1:
    sums.append(_sum_2x2(sums[-1]))
    counts.append(_sum_2x2(counts[-1]))
  fill = sums[-1] / jnp.maximum(counts[-1], 1e-6)
  for total, count in zip(sums[-2::-1], counts[-2::-1]):
    coarser = jax.image.resize(fill, total.shape[:3] + fill.shape[3:], 'linear')
    cover = jnp.minimum(count, 1.0)
    fill = cover * total / jnp.maximum(count, 1e-6) + (1.0 - cover) * coarser
  return fill


def _grid_laplacian(u):
  """The 4-neighbour grid graph's Laplacian of [N, H, W, C] (each pixel: the sum over its
  neighbours inside the image of neighbour - pixel, i.e. Neumann borders). The operator is
  symmetric, so the biharmonic energy |Lu|^2 has the normal operator L(L(u))."""
  dy = u[:, 1:] - u[:, :-1]
  dx = u[:, :, 1:] - u[:, :, :-1]
  zy, zx = jnp.zeros_like(u[:, :1]), jnp.zeros_like(u[:, :, :1])
  return (jnp.concatenate([dy, zy], 1) - jnp.concatenate([zy, dy], 1)
          + jnp.concatenate([dx, zx], 2) - jnp.concatenate([zx, dx], 2))


def _biharmonic_cg(start, mask, iterations: int):
  """`iterations` of conjugate gradients on min |L u|^2 over the hole pixels of `start` (the
  known pixels fixed), one system per image and channel, all solved together."""
  normal = lambda v: mask * _grid_laplacian(_grid_laplacian(mask * v))
  dot = lambda a, b: jnp.sum(a * b, (1, 2), keepdims=True)
  residual = -mask * _grid_laplacian(_grid_laplacian(start))

  def body(_, carry):
    delta, r, p, rr = carry
    ap = normal(p)
    alpha = rr / jnp.maximum(dot(p, ap), 1e-20)   # a converged system stays put
    delta, r = delta + alpha * p, r - alpha * ap
    rr_next = dot(r, r)
    return delta, r, r + rr_next / jnp.maximum(rr, 1e-30) * p, rr_next

  carry = (jnp.zeros_like(start), residual, residual, dot(residual, residual))
  delta = jax.lax.fori_loop(0, iterations, body, carry)[0]
  return start + mask * delta


def biharmonic_cg_fill(image, mask, iterations: int = 50, levels: int = 2):
  """The holes filled by a biharmonic solve, inside the compiled program: coarse to fine over
  `levels` halvings of the grid (a cell of the coarser grid is a hole if any of its pixels is),
  each level's solve starting from the next coarser one's, the coarsest from push_pull_fill,
  `iterations` conjugate-gradient steps per level; clipped to [-1, 1]. Images [N, H, W, C],
  masks [N, H, W, 1] (1 = hole), sides divisible by 2**levels; known pixels come back
  unchanged. On the 400 offline held-out crops with free-form holes (measured) it scores
  25.88 dB PSNR / L1 0.058 inside the hole, against 25.81 dB / 0.060 for scikit-image's exact
  `inpaint_biharmonic` (which also differs at the image borders) and 24.96 dB for push-pull."""
  known = 1.0 - mask
  if levels > 0:
    n, h, w, _ = image.shape
    cells = lambda x: x.reshape(n, h // 2, 2, w // 2, 2, x.shape[-1]).mean((2, 4))
    known_share = cells(known)
    coarse_mask = (known_share < 1.0 - 1e-6).astype(image.dtype)
    coarse_image = cells(image * known) / jnp.maximum(known_share, 1e-6) * (1.0 - coarse_mask)
    coarse = biharmonic_cg_fill(coarse_image, coarse_mask, iterations, levels - 1)
    start = jax.image.resize(coarse, image.shape, 'linear')
  else:
    start = push_pull_fill(image, mask)
  filled = _biharmonic_cg(image * known + start * mask, mask, iterations)
  return image * known + jnp.clip(filled, -1.0, 1.0) * mask


def upsample_nearest2x(x):
  """Each pixel repeated into a 2x2 block (NHWC)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class GatedUpsample(nn.Module):
  """`gen_deconv`: nearest-neighbour x2, then GatedConv(features, 3). The convolution is
  named `<name>_conv` inside this module, as the reference's variable scope nests it."""
  features: int
  kernel_init: Callable = glorot_uniform

  @nn.compact
  def __call__(self, x):
    return GatedConv(self.features, 3, kernel_init=self.kernel_init,
                     name=f'{self.name or "upsample"}_conv')(
        upsample_nearest2x(x))


# -- contextual attention -------------------------------------------------------------------
def _same_pads(size: int, kernel: int, stride: int) -> Tuple[int, int]:
  """TensorFlow's 'SAME' padding (before, after) of one axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def extract_patches(x, size: int, stride: int):
  """tf.extract_image_patches(x, size, stride, padding='SAME') as [B, h, w, size, size, C]:
  patch (i, j) is the zero-padded x[i * stride - pad + a, j * stride - pad + b]."""
  _, height, width, _ = x.shape
  pad_h, pad_w = _same_pads(height, size, stride), _same_pads(width, size, stride)
  xp = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
  h, w = -(-height // stride), -(-width // stride)
  rows = [jnp.stack([xp[:, a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride]
                     for b in range(size)], axis=3)
          for a in range(size)]
  return jnp.stack(rows, axis=3)


def _fuse_diagonal(scores, size: int):
  """tf.nn.conv2d of scores [B, P, L] (one image channel) with eye(size), 'SAME': each score
  summed with its neighbours along the diagonal (query and patch moving together)."""
  before = (size - 1) // 2
  after = size - 1 - before
  p, l = scores.shape[1:]
  padded = jnp.pad(scores, ((0, 0), (before, after), (before, after)))
  return sum(padded[:, a:a + p, a:a + l] for a in range(size))


def contextual_attention(foreground, background, mask, patch_size: int = 3, stride: int = 1,
                         rate: int = 2, fuse_size: int = 3, softmax_scale: float = 10.0):
  """The reference's `contextual_attention(f, b, mask, ksize, stride, rate, fuse_k,
  softmax_scale)`, for the whole batch at once, with one mask per image.

  foreground, background: [B, H, W, C] (H and W multiples of `rate`); mask: [B, H, W, 1]
  (or [1, H, W, 1]), 1 where the background is a hole. Returns (output [B, H, W, C],
  attention [B, h, w, L]): the attention of each position of the half-resolution (`rate`)
  foreground grid h x w over the L background patches (row-major on their grid).

  (a) raw patches of the background, 2 * rate wide at stride rate * stride: what is pasted;
  (b) foreground, background and mask subsampled by `rate`;
  (c) cosine matching: background patches patch_size wide at stride `stride`, each divided by
      its L2 norm (at least 1e-4), correlated with the foreground ('SAME');
  (d) fusion: the score matrix [h*w, L] convolved with eye(fuse_size), then again with both
      grids in column-major order, which favours large coherent matches;
  (e) patches that touch the hole are masked out before and after a softmax over patches of
      scores * softmax_scale;
  (f) the raw patches pasted with those weights (the transposed convolution at stride rate,
      'SAME'), divided by 4 (the reference's constant: the overlap of 2x2 raw patches).
  The reference's `stride` > 1 mis-shapes its fusion; here the patch grid is used throughout.
  """
  batch, height, width, _ = foreground.shape
  if height % rate or width % rate or background.shape[1] % rate or background.shape[2] % rate:
    raise ValueError(f'contextual_attention needs sides that are multiples of rate={rate}, '
                     f'got {foreground.shape} and {background.shape}')
  dtype = jnp.result_type(foreground, background)
  mask = jnp.broadcast_to(mask, (batch,) + background.shape[1:3] + (1,)).astype(dtype)
  raw = extract_patches(background, 2 * rate, rate * stride)         # [B, hb, wb, 2r, 2r, C]
  # Subsampling where the reference resizes with align_corners=True (see the module docstring).
  f = foreground[:, ::rate, ::rate]
  b = background[:, ::rate, ::rate]
  m = mask[:, ::rate, ::rate]
  hf, wf = f.shape[1:3]
  patches = extract_patches(b, patch_size, stride)                  # [B, hb, wb, k, k, C]
  hb, wb = patches.shape[1:3]
  n = hb * wb
  patches = patches.reshape(batch, n, -1)
  # max(||w||, 1e-4) written as sqrt(max(||w||^2, 1e-8)): the same value, and no infinite
  # derivative of sqrt at an all-zero patch (ReLU features make them).
  norms = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(patches), -1, keepdims=True), 1e-8))
  queries = extract_patches(f, patch_size, 1).reshape(batch, hf * wf, -1)
  scores = jnp.einsum('bpd,bld->bpl', queries, patches / norms)      # [B, hf*wf, L]
  if fuse_size > 0:
    scores = _fuse_diagonal(scores, fuse_size)
    scores = scores.reshape(batch, hf, wf, hb, wb).transpose(0, 2, 1, 4, 3)
    scores = _fuse_diagonal(scores.reshape(batch, wf * hf, wb * hb), fuse_size)
    scores = scores.reshape(batch, wf, hf, wb, hb).transpose(0, 2, 1, 4, 3)
    scores = scores.reshape(batch, hf * wf, n)
  # mm: 1 for patches with no hole pixel (their mean over the zero-padded window is 0).
  known = jnp.mean(extract_patches(m, patch_size, stride), axis=(3, 4, 5)) == 0
  known = known.reshape(batch, 1, n).astype(dtype)
  attention = jax.nn.softmax(scores * known * softmax_scale, axis=-1) * known
  # Paste: position (i, j) receives sum_l attention * raw patch l over its 2r x 2r window at
  # (i * r - pad, j * r - pad). With a = q * r + o (q in {0, 1}) a window covers blocks i and
  # i + 1 of an r x r block grid, so the overlap-add is four shifted sums of blocks.
  pasted = jnp.einsum('bpl,blx->bpx', attention, raw.reshape(batch, n, -1))
  channels = background.shape[-1]
  pasted = pasted.reshape(batch, hf, wf, 2, rate, 2, rate, channels)
  canvas = sum(jnp.pad(pasted[:, :, :, qh, :, qw], ((0, 0), (qh, 1 - qh), (qw, 1 - qw),
                                                      (0, 0), (0, 0), (0, 0)))
               for qh in range(2) for qw in range(2))                 # [B, hf+1, wf+1, r, r, C]
  canvas = canvas.transpose(0, 1, 3, 2, 4, 5).reshape(
      batch, (hf + 1) * rate, (wf + 1) * rate, channels)
  top, left = _same_pads(height, 2 * rate, rate)[0], _same_pads(width, 2 * rate, rate)[0]
  output = canvas[:, top:top + height, left:left + width] / 4.0
  return output.astype(dtype), attention.reshape(batch, hf, wf, n)


# -- the networks ---------------------------------------------------------------------------
class DeepFillV2Generator(nn.Module):
  """`build_inpaint_net` (v2): (masked image, mask) -> (coarse, refined), both tanh images with
  the input's channels. `channels` is the reference's cnum (48); `contextual_attention=False`
  drops the refinement's attention branch (the plain gated net). Sides must be multiples of 8.
  """
  channels: int = 48
  contextual_attention: bool = True
  init_scheme: str = 'reference'   # a key of GENERATOR_INITS (config: model.init)
  # 'none' (the reference) | 'push_pull' | 'biharmonic': the holes start filled by
  # push_pull_fill or biharmonic_cg_fill, and each stage adds a correction to its input inside
  # the hole (its last convolution starts at zero, so the untrained net returns the smooth
  # fill) instead of drawing the whole image through tanh. The correction is masked because
  # outside the hole the input is already the answer: unmasked, the whole-image L1 pulls
  # every correction to zero (measured: a learned correction of ~1e-4 after 5,000 steps).
  # The fill depends on the data alone: no gradient.
  prefill: str = 'none'
  # With a prefill: the nets see the image in units of its known pixels' contrast (their mean
  # taken off, divided by their standard deviation, one per image) and their correction is
  # scaled back by it, so a flat picture, whose smooth fill is already near exact, gets a
  # correction near zero, and pictures of any contrast look alike to the nets.
  contrast_normalise: bool = False

  @nn.compact
  def __call__(self, masked_image, mask):
    _, height, width, out_channels = masked_image.shape
    if height % 8 or width % 8:
      raise ValueError(f'DeepFillV2Generator needs image sides that are multiples of 8 (two '
                       f'stride-2 stages and contextual attention at rate 2), got '
                       f'{height}x{width}')
    if self.channels % 4 or self.channels < 4:
      raise ValueError(f'DeepFillV2Generator channels must be a positive multiple of 4 (conv16 '
                       f'outputs channels / 4), got {self.channels}')
    cnum = self.channels
    mask = mask.astype(masked_image.dtype)

    if self.prefill not in PREFILLS:
      raise ValueError(f'DeepFillV2Generator prefill must be one of {PREFILLS}, got '
                       f'{self.prefill!r}')
    kernel_init = GENERATOR_INITS[self.init_scheme]
    residual = self.prefill != 'none'
    if self.prefill == 'push_pull':
      masked_image = push_pull_fill(masked_image, mask)
    elif self.prefill == 'biharmonic':   # CG wants float32 whatever the compute dtype
      masked_image = biharmonic_cg_fill(masked_image.astype(jnp.float32),
                                        mask.astype(jnp.float32)).astype(masked_image.dtype)

    if residual and self.contrast_normalise:
      known = 1.0 - mask
      count = jnp.maximum(jnp.sum(known, axis=(1, 2), keepdims=True), 1.0)
      centre = jnp.sum(masked_image * known, axis=(1, 2), keepdims=True) / count
      spread = jnp.sum(jnp.square(masked_image - centre) * known, axis=(1, 2, 3),
                       keepdims=True) / (count * out_channels)
      contrast = jnp.sqrt(spread) + 1e-3
      to_net = lambda image: (image - centre) / contrast
    else:
      contrast = 1.0
      to_net = lambda image: image

    def output_layer(x, name):   # the un-gated last convolution of a stage
      init = nn.initializers.zeros if residual else kernel_init
      return GatedConv(out_channels, 3, gated=False, kernel_init=init, name=name)(x)

    def conv(width, k, name, strides=1, dilation=1, activation=nn.elu):   # gen_conv(x, width)
      return GatedConv(width // 2, k, strides, dilation, activation=activation,
                       kernel_init=kernel_init, name=name)

    def dilated(x, prefix, start):   # the four atrous convs, rates 2, 4, 8, 16
      for i, rate in enumerate((2, 4, 8, 16)):
        x = conv(4 * cnum, 3, f'{prefix}{start + i}_atrous', dilation=rate)(x)
      return x

    # Stage 1: the coarse network sees [image, ones, mask].
    ones = jnp.ones_like(masked_image[..., :1])
    x = jnp.concatenate([to_net(masked_image), ones, ones * mask], axis=-1)
    x = conv(cnum, 5, 'conv1')(x)
    x = conv(2 * cnum, 3, 'conv2_downsample', strides=2)(x)
    x = conv(2 * cnum, 3, 'conv3')(x)
    x = conv(4 * cnum, 3, 'conv4_downsample', strides=2)(x)
    x = conv(4 * cnum, 3, 'conv5')(x)
    x = conv(4 * cnum, 3, 'conv6')(x)
    x = dilated(x, 'conv', 7)
    x = conv(4 * cnum, 3, 'conv11')(x)
    x = conv(4 * cnum, 3, 'conv12')(x)
    x = GatedUpsample(cnum, kernel_init, name='conv13_upsample')(x)        # gen_deconv(x, 2 * cnum)
    x = conv(2 * cnum, 3, 'conv14')(x)
    x = GatedUpsample(cnum // 2, kernel_init, name='conv15_upsample')(x)   # gen_deconv(x, cnum)
    x = conv(cnum // 2, 3, 'conv16')(x)
    x = output_layer(x, 'conv17')
    coarse = masked_image + x * mask * contrast if residual else jnp.tanh(x)

    # Stage 2: the coarse result inside the hole, the input outside it.
    stage2_input = coarse * mask + masked_image * (1.0 - mask)
    x = to_net(stage2_input)
    h = conv(cnum, 5, 'xconv1')(x)
    h = conv(cnum, 3, 'xconv2_downsample', strides=2)(h)
    h = conv(2 * cnum, 3, 'xconv3')(h)
    h = conv(2 * cnum, 3, 'xconv4_downsample', strides=2)(h)
    h = conv(4 * cnum, 3, 'xconv5')(h)
    h = conv(4 * cnum, 3, 'xconv6')(h)
    hallucinated = dilated(h, 'xconv', 7)
    if self.contextual_attention:   # the field; the function is the module-level one
      a = conv(cnum, 5, 'pmconv1')(x)
      a = conv(cnum, 3, 'pmconv2_downsample', strides=2)(a)
      a = conv(2 * cnum, 3, 'pmconv3')(a)
      a = conv(4 * cnum, 3, 'pmconv4_downsample', strides=2)(a)
      a = conv(4 * cnum, 3, 'pmconv5')(a)
      a = conv(4 * cnum, 3, 'pmconv6', activation=nn.relu)(a)
      a, _ = contextual_attention(a, a, mask[:, ::4, ::4], 3, 1, rate=2)   # resize_mask_like
      a = conv(4 * cnum, 3, 'pmconv9')(a)
      a = conv(4 * cnum, 3, 'pmconv10')(a)
      x = jnp.concatenate([hallucinated, a], axis=-1)
    else:
      x = hallucinated
    x = conv(4 * cnum, 3, 'allconv11')(x)
    x = conv(4 * cnum, 3, 'allconv12')(x)
    x = GatedUpsample(cnum, kernel_init, name='allconv13_upsample')(x)
    x = conv(2 * cnum, 3, 'allconv14')(x)
    x = GatedUpsample(cnum // 2, kernel_init, name='allconv15_upsample')(x)
    x = conv(cnum // 2, 3, 'allconv16')(x)
    x = output_layer(x, 'allconv17')
    return coarse, (stage2_input + x * mask * contrast if residual else jnp.tanh(x))


class SNPatchGAN(nn.Module):
  """`build_sn_patch_gan_discriminator`: `num_layers` spectral-normalised 5x5 stride-2 'SAME'
  convolutions of features * (1, 2, 4, 4, ...) filters, each followed by leaky ReLU 0.2, then
  flattened (NHWC order) to [B, N]. The caller concatenates the mask to the image.

  Each convolution's power-iteration vector and last sigma live in 'batch_stats'
  (flax.linen.SpectralNorm: `conv<i>_sn` / {'conv<i>/kernel/u': [1, out],
  'conv<i>/kernel/sigma': []}); `train=True` runs one power iteration and stores it (call
  with mutable=['batch_stats']); `train=False` runs the same iteration without storing it.
  """
  features: int = 64
  num_layers: int = 6

  @nn.compact
  def __call__(self, x, train: bool):
    for i in range(self.num_layers):
      conv = nn.Conv(self.features * min(2 ** i, 4), (5, 5), strides=2, padding='SAME',
                     kernel_init=glorot_uniform, name=f'conv{i + 1}')
      x = nn.SpectralNorm(conv, n_steps=1, name=f'conv{i + 1}_sn')(x, update_stats=train)
      x = nn.leaky_relu(x, 0.2)
    return x.reshape(x.shape[0], -1)


def make_inpainting_generator(model_config, image_shape) -> DeepFillV2Generator:
  """The generator `model.channels` (cnum) and `model.contextual_attention` describe, for
  images of `image_shape` (H, W, C)."""
  height, width = image_shape[:2]
  if height % 8 or width % 8:
    raise ValueError(f'the inpainting generator needs image sides that are multiples of 8, '
                     f'got {height}x{width}')
  return DeepFillV2Generator(int(model_config.channels), bool(model_config.contextual_attention),
                             model_config.get('init', 'reference'),
                             model_config.get('prefill', 'none'),
                             bool(model_config.get('contrast_normalise', False)))


def make_inpainting_discriminator(model_config) -> SNPatchGAN:
  return SNPatchGAN(int(model_config.d_features), int(model_config.d_layers))
