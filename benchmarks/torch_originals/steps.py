"""The training step of the PyTorch originals, driven by the same config as jaxgan.

`TorchGAN.step` is the pytorch/examples `dcgan/main.py` iteration, which the tutorial MLP GAN
shares: D sees the real batch and the (detached) fake batch as separate forward passes, each
loss back-propagated on its own, then `optimizerD.step()`; then G's loss is D on the same fake
batch (no second generator forward) and `optimizerG.step()`. With `config.train.d_steps > 1`
(the WGAN loop) the earlier critic updates each draw their own fakes.

Where jaxgan deliberately departs from an original, `original=True` gives the original and
`original=False` (the parity tests) gives jaxgan's semantics:
  - DCGAN's loss: pytorch/examples puts a Sigmoid in D and uses `BCELoss`; jaxgan (and the
    tutorial MLP GAN) use BCE on logits (`BCEWithLogitsLoss`), the same function, stabler.
  - WGAN's clipping (`regularizer.clip`): Arjovsky et al.'s script clamps the critic's weights
    before each critic update, so the generator update sees the last critic update unclipped;
    jaxgan clips after each update. (The script's 100 critic iterations for the first 25
    generator iterations are not reproduced by either side: both use `train.d_steps`.)
WGAN-GP's penalty is lambda * mean((||grad D(x_hat)||_2 - 1)^2) with the norm over all of a
sample's pixels and channels (jaxgan/regularizers.py), not the per-row norm of a well-known
PyTorch port; the critic is the DCGAN one without BatchNorm, as configs/wgan_gp.py builds it.
The Wasserstein critic follows jaxgan's sign (D(real) high); the original's is the mirror image.
"""
from typing import Sequence

import torch
from torch import nn

from benchmarks.torch_originals import nets


def _bce_logits(target):
  loss = nn.BCEWithLogitsLoss()
  return lambda out: loss(out, torch.full_like(out, target))


def _bce_probs(target):
  loss = nn.BCELoss()
  return lambda out: loss(out, torch.full_like(out, target))


# objective name -> (loss of D on real output, loss of D on fake output, loss of G on fake output)
OBJECTIVES = {
    'non_saturating': (_bce_logits(1.0), _bce_logits(0.0), _bce_logits(1.0)),
    'wasserstein': (lambda out: -out.mean(), lambda out: out.mean(), lambda out: -out.mean()),
}
ORIGINAL_OBJECTIVES = {
    'non_saturating': (_bce_probs(1.0), _bce_probs(0.0), _bce_probs(1.0)),
}


def make_optimizer(optim, params, learning_rate):
  if optim.name == 'adam':
    return torch.optim.Adam(params, lr=learning_rate, betas=(optim.b1, optim.b2), eps=optim.eps)
  if optim.name == 'rmsprop':
    return torch.optim.RMSprop(params, lr=learning_rate, alpha=optim.rms_decay, eps=optim.eps)
  if optim.name == 'sgd':
    return torch.optim.SGD(params, lr=learning_rate)
  raise NotImplementedError(optim.name)


def _check_supported(config):
  model, unsupported = config.model, []
  if model.get('conditioning', 'none') != 'none':
    unsupported.append(f'model.conditioning={model.conditioning!r}')
  if model.get('minibatch', 'none') != 'none':
    unsupported.append(f'model.minibatch={model.minibatch!r}')
  if model.get('pack', 1) != 1:
    unsupported.append(f'model.pack={model.pack}')
  if 'info' in config and (config.info.categories or config.info.continuous):
    unsupported.append('InfoGAN codes')
  if config.train.get('unroll_steps', 0):
    unsupported.append('train.unroll_steps')
  if 'regularizer' in config and config.regularizer.name not in ('none', 'gradient_penalty'):
    unsupported.append(f'regularizer.name={config.regularizer.name!r}')
  if unsupported:
    raise NotImplementedError('no PyTorch original yet for ' + ', '.join(unsupported))


class TorchGAN:
  """Both nets, both optimizers and the original training iteration for a jaxgan config."""

  def __init__(self, config, image_shape, original=False, netG=None, netD=None):
    self.config = config
    self.latent_dim = config.model.latent_dim
    self.d_steps = config.train.d_steps
    _check_supported(config)
    sigmoid = original and config.model.discriminator == 'dcgan' and config.objective == 'non_saturating'
    self.clip = float(config.regularizer.clip)
    self.clip_before = original
    self.penalty_weight = (float(config.regularizer.weight)
                           if config.regularizer.name == 'gradient_penalty' else 0.0)
    self.netG = netG if netG is not None else nets.make_generator(config.model, image_shape)
    self.netD = netD if netD is not None else nets.make_discriminator(config.model, image_shape,
                                                                      sigmoid=sigmoid)
    table = ORIGINAL_OBJECTIVES if sigmoid else OBJECTIVES
    if config.objective not in table:
      raise NotImplementedError(f'no PyTorch loss for objective {config.objective!r}')
    self.d_real_loss, self.d_fake_loss, self.g_loss = table[config.objective]
    self.optimizerD = make_optimizer(config.optim, self.netD.parameters(), config.optim.d_lr)
    self.optimizerG = make_optimizer(config.optim, self.netG.parameters(), config.optim.g_lr)
    # Forward callables; `compile()` swaps in torch.compile'd versions of the same modules.
    self.G, self.D = self.netG, self.netD

  def compile(self, **kwargs):
    # The gradient penalty differentiates twice (create_graph=True). AOTAutograd's donated
    # backward buffers refuse that first; without them, torch 2.13 reports that compiled double
    # backward is unsupported, the real limit, which the speed table then records.
    torch._functorch.config.donated_buffer = False
    self.G = torch.compile(self.netG, **kwargs)
    self.D = torch.compile(self.netD, **kwargs)
    return self

  def to(self, device):
    # Before the first step: Module.to moves parameters in place, so the optimizers (whose
    # state is still empty) keep pointing at them.
    self.netG.to(device)
    self.netD.to(device)
    return self

  def train(self):
    self.netG.train()
    self.netD.train()
    return self

  def _clamp(self):
    with torch.no_grad():
      for p in self.netD.parameters():
        p.clamp_(-self.clip, self.clip)

  def _gradient_penalty(self, real, fake, eps):
    if eps is None:
      eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), dtype=real.dtype,
                       device=real.device)
    interpolates = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = self.D(interpolates)
    grads, = torch.autograd.grad(out.sum(), interpolates, create_graph=True)
    norms = torch.sqrt(grads.pow(2).flatten(1).sum(1) + 1e-12)
    return ((norms - 1) ** 2).mean()

  def _d_update(self, real, fake, eps=None):
    if self.clip and self.clip_before:
      self._clamp()
    self.netD.zero_grad()
    output = self.D(real)
    err_real = self.d_real_loss(output)
    err_real.backward()
    output = self.D(fake.detach())
    err_fake = self.d_fake_loss(output)
    err_fake.backward()
    if self.penalty_weight:
      (self.penalty_weight * self._gradient_penalty(real, fake.detach(), eps)).backward()
    self.optimizerD.step()
    if self.clip and not self.clip_before:
      self._clamp()
    return err_real + err_fake

  def step(self, reals: Sequence[torch.Tensor], noises: Sequence[torch.Tensor], penalty_eps=None):
    """One jaxgan step: `d_steps` D updates (one real batch and one noise batch each), then G.

    reals: d_steps batches [B, C, H, W] in [-1, 1]; noises: d_steps latents [B, nz];
    penalty_eps: d_steps interpolation weights [B, 1, 1, 1] for WGAN-GP (None: drawn here).
    Returns (d_loss, g_loss) as detached tensors.
    """
    eps = penalty_eps if penalty_eps is not None else [None] * self.d_steps
    for i in range(self.d_steps - 1):
      with torch.no_grad():
        fake = self.G(noises[i])
      self._d_update(reals[i], fake, eps[i])
    fake = self.G(noises[-1])
    err_d = self._d_update(reals[-1], fake, eps[-1])
    self.netG.zero_grad()
    err_g = self.g_loss(self.D(fake))
    err_g.backward()
    self.optimizerG.step()
    return err_d.detach(), err_g.detach()
