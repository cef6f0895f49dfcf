"""The PyTorch original of DeepFill v2, written to the definitions of
JiahuiYu/generative_inpainting (TensorFlow; inpaint_model.py `build_inpaint_net`,
`build_sn_patch_gan_discriminator`, `build_graph_with_losses`, inpaint_ops.py `gen_conv`,
`gen_deconv`, `contextual_attention`; neuralgym's `gan_hinge_loss`), NCHW, with the
reference's layer names: GatedConv2d, GatedDeconv, contextual_attention, DeepFillV2Generator,
SNPatchGAN, the hinge losses and one training iteration (`TorchDeepFill`).

TensorFlow's 'SAME' padding is spelled out (`tf_same_pad`, before the convolution), and the
attention layer follows the widely used PyTorch port (daa233/generative-inpainting-pytorch):
F.unfold patches, a per-image F.conv2d of the foreground with the normalised patches and
F.conv_transpose2d for pasting, with one mask per image. The nearest-neighbour resizes are
pixel repetition and subsampling, as in jaxgan/architectures/inpainting.py (whose docstring
explains the reference's align_corners=True difference).

Modules register their layers in forward order, so `jaxgan.porting.torch_to_flax` maps the
generator onto jaxgan's by order (`generator_to_flax`). The discriminator uses
torch.nn.utils.spectral_norm (one power iteration per training-mode forward, as the
reference's `kernel_spectral_norm` runs one per evaluation of its graph); its state, weight_u
included, is mapped by `discriminator_to_flax` / `discriminator_from_flax`.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def _same_pads(size, kernel, stride, dilation=1):
  """TensorFlow's 'SAME' padding (before, after) of one axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
  return total // 2, total - total // 2


def tf_same_pad(x, kernel, stride=1, dilation=1):
  """Zero-pads NCHW x as TensorFlow's padding='SAME' does for this convolution."""
  top, bottom = _same_pads(x.shape[-2], kernel, stride, dilation)
  left, right = _same_pads(x.shape[-1], kernel, stride, dilation)
  return F.pad(x, (left, right, top, bottom))


def _tf_init(conv):
  """tf.layers.conv2d's defaults: Glorot-uniform kernel, zero bias."""
  nn.init.xavier_uniform_(conv.weight)
  nn.init.zeros_(conv.bias)
  return conv


class GatedConv2d(nn.Module):
  """`gen_conv(x, 2 * features, ...)`: a conv of 2 * features filters, then
  activation(first half) * sigmoid(second half); `gated=False`: `features` filters, no
  activation (the output layer)."""

  def __init__(self, in_channels, features, kernel_size, stride=1, dilation=1, gated=True,
               activation=F.elu):
    super().__init__()
    self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
    self.gated, self.activation = gated, activation
    self.conv = _tf_init(nn.Conv2d(in_channels, 2 * features if gated else features,
                                   kernel_size, stride, dilation=dilation))

  def forward(self, x):
    x = self.conv(tf_same_pad(x, self.kernel_size, self.stride, self.dilation))
    if not self.gated:
      return x
    x, gate = torch.chunk(x, 2, dim=1)
    return self.activation(x) * torch.sigmoid(gate)


class GatedDeconv(nn.Module):
  """`gen_deconv(x, 2 * features)`: nearest-neighbour x2, then a gated 3x3 conv."""

  def __init__(self, in_channels, features):
    super().__init__()
    self.conv = GatedConv2d(in_channels, features, 3)

  def forward(self, x):
    return self.conv(F.interpolate(x, scale_factor=2, mode='nearest'))


def extract_image_patches(x, size, stride):
  """tf.extract_image_patches(padding='SAME') of NCHW x: [B, C * size * size, L] (F.unfold's
  layout: channel, then row and column within the patch; patches row-major)."""
  return F.unfold(tf_same_pad(x, size, stride), size, stride=stride)


def contextual_attention(f, b, mask, ksize=3, stride=1, rate=2, fuse_k=3, softmax_scale=10.0):
  """The reference's contextual attention with one mask per image. f, b: [B, C, H, W];
  mask [B, 1, H, W] (1 = hole). Returns (output [B, C, H, W], attention [B, h, w, L])."""
  batch, channels, height, width = f.shape
  kernel = 2 * rate
  raw_w = extract_image_patches(b, kernel, rate * stride)
  raw_w = raw_w.view(batch, channels, kernel, kernel, -1).permute(0, 4, 1, 2, 3)  # [B, L, C, k, k]
  f, b, mask = f[:, :, ::rate, ::rate], b[:, :, ::rate, ::rate], mask[:, :, ::rate, ::rate]
  hf, wf = f.shape[2:]
  w = extract_image_patches(b, ksize, stride)
  n = w.shape[-1]
  hb, wb = -(-b.shape[2] // stride), -(-b.shape[3] // stride)
  w = w.view(batch, channels, ksize, ksize, n).permute(0, 4, 1, 2, 3)             # [B, L, C, k, k]
  m = extract_image_patches(mask, ksize, stride)                                  # [B, k*k, L]
  mm = (m.mean(dim=1) == 0.0).to(f.dtype)                                         # [B, L]
  fuse_weight = torch.eye(fuse_k, dtype=f.dtype).view(1, 1, fuse_k, fuse_k)
  outputs, attentions = [], []
  for i in range(batch):
    wi = w[i]
    wi_normed = wi / torch.clamp(torch.sqrt((wi ** 2).sum(dim=(1, 2, 3), keepdim=True)), min=1e-4)
    yi = F.conv2d(tf_same_pad(f[i:i + 1], ksize), wi_normed)                       # [1, L, hf, wf]
    if fuse_k > 0:
      yi = yi.permute(0, 2, 3, 1).reshape(1, 1, hf * wf, n)
      yi = F.conv2d(tf_same_pad(yi, fuse_k), fuse_weight)
      yi = yi.view(1, hf, wf, hb, wb).permute(0, 2, 1, 4, 3).reshape(1, 1, wf * hf, wb * hb)
      yi = F.conv2d(tf_same_pad(yi, fuse_k), fuse_weight)
      yi = yi.view(1, wf, hf, wb, hb).permute(0, 2, 1, 4, 3).reshape(1, hf, wf, n)
      yi = yi.permute(0, 3, 1, 2)
    mmi = mm[i].view(1, n, 1, 1)
    yi = F.softmax(yi * mmi * softmax_scale, dim=1) * mmi
    # tf.nn.conv2d_transpose(..., padding='SAME') back to H x W: the full transposed conv,
    # cropped by the forward conv's 'SAME' padding.
    pasted = F.conv_transpose2d(yi, raw_w[i], stride=rate)
    top, left = _same_pads(height, kernel, rate)[0], _same_pads(width, kernel, rate)[0]
    outputs.append(pasted[:, :, top:top + height, left:left + width] / 4.0)
    attentions.append(yi.permute(0, 2, 3, 1))
  return torch.cat(outputs, 0), torch.cat(attentions, 0)


class DeepFillV2Generator(nn.Module):
  """`build_inpaint_net` (v2) with cnum = `channels`: (masked image [B, C, H, W], mask
  [B, 1, H, W]) -> (coarse, refined). Layers are registered in forward order (conv*, xconv*,
  pmconv*, allconv*)."""

  def __init__(self, in_channels=3, channels=48, contextual_attention=True):
    super().__init__()
    cnum = channels
    self.use_attention = contextual_attention
    self._width = in_channels + 2

    def conv(name, width, k, stride=1, dilation=1, activation=F.elu, source=None):
      if source is not None:
        self._width = source
      layer = GatedConv2d(self._width, width // 2, k, stride, dilation, activation=activation)
      setattr(self, name, layer)
      self._width = width // 2

    def deconv(name, width):
      setattr(self, name, GatedDeconv(self._width, width // 2))
      self._width = width // 2

    def out(name):
      setattr(self, name, GatedConv2d(self._width, in_channels, 3, gated=False))

    def dilated(prefix):
      for i, rate in enumerate((2, 4, 8, 16)):
        conv(f'{prefix}{7 + i}_atrous', 4 * cnum, 3, dilation=rate)

    conv('conv1', cnum, 5)
    conv('conv2_downsample', 2 * cnum, 3, 2)
    conv('conv3', 2 * cnum, 3)
    conv('conv4_downsample', 4 * cnum, 3, 2)
    conv('conv5', 4 * cnum, 3)
    conv('conv6', 4 * cnum, 3)
    dilated('conv')
    conv('conv11', 4 * cnum, 3)
    conv('conv12', 4 * cnum, 3)
    deconv('conv13_upsample', 2 * cnum)
    conv('conv14', 2 * cnum, 3)
    deconv('conv15_upsample', cnum)
    conv('conv16', cnum // 2, 3)
    out('conv17')
    conv('xconv1', cnum, 5, source=in_channels)
    conv('xconv2_downsample', cnum, 3, 2)
    conv('xconv3', 2 * cnum, 3)
    conv('xconv4_downsample', 2 * cnum, 3, 2)
    conv('xconv5', 4 * cnum, 3)
    conv('xconv6', 4 * cnum, 3)
    dilated('xconv')
    hallucinated = self._width
    if contextual_attention:
      conv('pmconv1', cnum, 5, source=in_channels)
      conv('pmconv2_downsample', cnum, 3, 2)
      conv('pmconv3', 2 * cnum, 3)
      conv('pmconv4_downsample', 4 * cnum, 3, 2)
      conv('pmconv5', 4 * cnum, 3)
      conv('pmconv6', 4 * cnum, 3, activation=F.relu)
      conv('pmconv9', 4 * cnum, 3)
      conv('pmconv10', 4 * cnum, 3)
      hallucinated += self._width
    conv('allconv11', 4 * cnum, 3, source=hallucinated)
    conv('allconv12', 4 * cnum, 3)
    deconv('allconv13_upsample', 2 * cnum)
    conv('allconv14', 2 * cnum, 3)
    deconv('allconv15_upsample', cnum)
    conv('allconv16', cnum // 2, 3)
    out('allconv17')

  def _run(self, x, *names):
    for name in names:
      x = getattr(self, name)(x)
    return x

  def forward(self, masked_image, mask):
    ones = torch.ones_like(masked_image[:, :1])
    x = torch.cat([masked_image, ones, ones * mask], 1)
    x = self._run(x, 'conv1', 'conv2_downsample', 'conv3', 'conv4_downsample', 'conv5', 'conv6',
                  'conv7_atrous', 'conv8_atrous', 'conv9_atrous', 'conv10_atrous', 'conv11',
                  'conv12', 'conv13_upsample', 'conv14', 'conv15_upsample', 'conv16', 'conv17')
    coarse = torch.tanh(x)
    x = coarse * mask + masked_image * (1.0 - mask)
    hallucinated = self._run(x, 'xconv1', 'xconv2_downsample', 'xconv3', 'xconv4_downsample',
                             'xconv5', 'xconv6', 'xconv7_atrous', 'xconv8_atrous',
                             'xconv9_atrous', 'xconv10_atrous')
    if self.use_attention:
      a = self._run(x, 'pmconv1', 'pmconv2_downsample', 'pmconv3', 'pmconv4_downsample',
                    'pmconv5', 'pmconv6')
      a, _ = contextual_attention(a, a, mask[:, :, ::4, ::4], 3, 1, rate=2)
      a = self._run(a, 'pmconv9', 'pmconv10')
      x = torch.cat([hallucinated, a], 1)
    else:
      x = hallucinated
    x = self._run(x, 'allconv11', 'allconv12', 'allconv13_upsample', 'allconv14',
                  'allconv15_upsample', 'allconv16', 'allconv17')
    return coarse, torch.tanh(x)


class SNPatchGAN(nn.Module):
  """`build_sn_patch_gan_discriminator`: spectral-normalised 5x5 stride-2 'SAME' convs
  (features * (1, 2, 4, 4, 4, 4)) with leaky ReLU 0.2, flattened in TensorFlow's NHWC order."""

  def __init__(self, in_channels, features=64, num_layers=6):
    super().__init__()
    self.num_layers = num_layers
    width = in_channels
    for i in range(num_layers):
      out = features * min(2 ** i, 4)
      setattr(self, f'conv{i + 1}', spectral_norm(_tf_init(nn.Conv2d(width, out, 5, 2)),
                                                  n_power_iterations=1, eps=1e-12))
      width = out

  def forward(self, x):
    for i in range(self.num_layers):
      x = F.leaky_relu(getattr(self, f'conv{i + 1}')(tf_same_pad(x, 5, 2)), 0.2)
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def hinge_d_loss(pos, neg):
  """neuralgym's gan_hinge_loss, the discriminator's half."""
  return torch.mean(F.relu(1.0 - pos)) + torch.mean(F.relu(1.0 + neg))


def hinge_g_loss(neg):
  return -torch.mean(neg)


class TorchDeepFill:
  """The two nets, Adam for each, and one iteration of DeepFill v2's training on a batch
  (the order jaxgan/trainers/inpainting.py uses): the D update on [real; completed] in one
  pass, then the G update against the updated D (in training mode, so its power iteration
  runs again)."""

  def __init__(self, in_channels=3, channels=48, contextual_attention=True, d_features=64,
               d_layers=6, g_lr=1e-4, d_lr=1e-4, betas=(0.5, 0.999), eps=1e-8, l1_weight=1.0,
               gan_weight=1.0):
    self.netG = DeepFillV2Generator(in_channels, channels, contextual_attention)
    self.netD = SNPatchGAN(in_channels + 1, d_features, d_layers)
    self.l1_weight, self.gan_weight = l1_weight, gan_weight
    self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=g_lr, betas=betas, eps=eps)
    self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=d_lr, betas=betas, eps=eps)

  @classmethod
  def from_config(cls, config, in_channels):
    """From a configs/inpainting.py config."""
    model, optim = config.model, config.optim
    return cls(in_channels, int(model.channels), bool(model.contextual_attention),
               int(model.d_features), int(model.d_layers), float(optim.g_lr), float(optim.d_lr),
               (float(optim.b1), float(optim.b2)), float(optim.eps),
               float(config.inpainting.l1_weight), float(config.inpainting.gan_weight))

  def nets(self):
    return [self.netG, self.netD]

  def train(self):
    for net in self.nets():
      net.train()
    return self

  def optimize_parameters(self, images, masks):
    """images [B, C, H, W] in [-1, 1], masks [B, 1, H, W] (1 = hole) -> {'d_loss', 'g_loss',
    'g_l1', 'g_gan'} as floats."""
    masked = images * (1.0 - masks)
    coarse, refined = self.netG(masked, masks)
    complete = refined * masks + masked
    for p in self.netD.parameters():
      p.requires_grad = True
    self.optimizer_D.zero_grad()
    both = torch.cat([torch.cat([images, masks], 1), torch.cat([complete.detach(), masks], 1)], 0)
    pos, neg = torch.chunk(self.netD(both), 2)
    d_loss = hinge_d_loss(pos, neg)
    d_loss.backward()
    self.optimizer_D.step()
    for p in self.netD.parameters():
      p.requires_grad = False
    self.optimizer_G.zero_grad()
    l1 = torch.mean(torch.abs(images - coarse)) + torch.mean(torch.abs(images - refined))
    adversarial = hinge_g_loss(self.netD(torch.cat([complete, masks], 1)))
    g_loss = self.l1_weight * l1 + self.gan_weight * adversarial
    g_loss.backward()
    self.optimizer_G.step()
    for p in self.netD.parameters():
      p.requires_grad = True
    return {'d_loss': float(d_loss.detach()), 'g_loss': float(g_loss.detach()),
            'g_l1': float(l1.detach()), 'g_gan': float(adversarial.detach())}


# -- porting --------------------------------------------------------------------------------
def _numpy(t):
  return t.detach().cpu().numpy().copy()


def generator_to_flax(net, flax_module, image_shape, dtype=None):
  """{'params': ...} of jaxgan's DeepFillV2Generator equal to `net` (by forward order)."""
  import jax.numpy as jnp
  from jaxgan import porting
  height, width, channels = image_shape
  state = {k: _numpy(v) for k, v in net.state_dict().items()}
  dtype = dtype or next(iter(state.values())).dtype
  return porting.torch_to_flax(flax_module, state, jnp.zeros((1, height, width, channels), dtype),
                               jnp.zeros((1, height, width, 1), dtype), dtype=dtype)


def _sigma(weight, u, v):
  return float(u @ (weight.reshape(weight.shape[0], -1) @ v))


def discriminator_to_flax(net):
  """{'params', 'batch_stats'} of jaxgan's SNPatchGAN equal to `net`: kernels from
  weight_orig, u from weight_u ([out] -> [1, out]), sigma = u . W v from the stored u, v (what
  PyTorch's evaluation mode divides by; after an optimizer step it is not the sigma jaxgan
  stored, which the weight before the step gave)."""
  params, stats = {}, {}
  for i in range(net.num_layers):
    name = f'conv{i + 1}'
    layer = getattr(net, name)
    weight, u, v = _numpy(layer.weight_orig), _numpy(layer.weight_u), _numpy(layer.weight_v)
    params[name] = {'kernel': weight.transpose(2, 3, 1, 0), 'bias': _numpy(layer.bias)}
    stats[f'{name}_sn'] = {f'{name}/kernel/u': u[None, :],
                           f'{name}/kernel/sigma': np.asarray(_sigma(weight, u, v), weight.dtype)}
  return {'params': params, 'batch_stats': stats}


def discriminator_from_flax(variables, net):
  """Loads jaxgan SNPatchGAN variables into `net`: weight_orig and bias from the params,
  weight_u from u, and weight_v = normalize(W^T u), the v PyTorch's power iteration derives
  from u (a training-mode forward recomputes v, so only u carries state)."""
  params, stats = variables['params'], variables['batch_stats']
  with torch.no_grad():
    for i in range(net.num_layers):
      name = f'conv{i + 1}'
      layer = getattr(net, name)
      kernel = np.asarray(params[name]['kernel'])
      weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).to(layer.weight_orig)
      u = torch.from_numpy(np.array(stats[f'{name}_sn'][f'{name}/kernel/u'])[0]).to(weight)
      layer.weight_orig.copy_(weight)
      layer.bias.copy_(torch.from_numpy(np.array(params[name]['bias'])).to(weight))
      layer.weight_u.copy_(u)
      layer.weight_v.copy_(F.normalize(weight.reshape(weight.shape[0], -1).t() @ u, dim=0,
                                       eps=1e-12))
