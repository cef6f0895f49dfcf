"""PyTorch originals of the 2-D Gaussian-mixture benchmark: PacGAN's MLPs, minibatch
discrimination, packing, WGAN-GP and the unrolled GAN, with the training step of
jaxgan/trainers/adversarial.py written the PyTorch way (autograd, torch.optim).

The nets (configs/mixture_*.py; jaxgan/architectures/pacgan.py and heads.py):
  G: `g_hidden` widths of Linear (no bias under BatchNorm) + BatchNorm1d + ReLU, then a linear
     output with bias; weights N(0, 0.02), biases 0.
  D: `d_hidden` linear-maxout layers (`maxout_pieces` pieces each), a linear logit; with
     minibatch discrimination (Salimans et al. 2016) the logit gains a bias-free Linear of the
     B kernel similarities computed on the last hidden features.
Submodules carry jaxgan's parameter names ('linear_0', 'bn_0', 'maxout_0', 'minibatch',
'minibatch_out', 'out') so that `params_to_torch` / `torch_to_params` port by name: Linear
weights are the transposed kernels, BatchNorm weight/bias/running statistics are scale/bias/
mean/var, the minibatch tensor T is stored in jaxgan's [features, B * C] layout.

The step (`TorchMixtureGAN.step`) is the PyTorch loop jaxgan's step follows: `d_steps` critic
updates, each on its own real batch and its own fakes (the earlier ones from a no-grad
generator pass, which still moves BatchNorm's running statistics, as in PyTorch), the last
one on the detached fakes of the generator pass that the generator update then
back-propagates through. D sees real and fake batches as separate forward passes. PacGAN packs
m consecutive samples into one input of D. WGAN-GP's penalty is lambda * mean((||grad||_2 -
1)^2) at per-sample interpolates eps * real + (1 - eps) * fake.

Unrolled GAN (Metz et al. 2017), `train.unroll_steps = k`: G's loss is taken at D_k, where
D_0 is the discriminator before this step's last update and D_{j+1} is one Adam step of D's
own loss from D_j on the step's last real batch and the (not detached) fakes, all kept in the
autograd graph (`create_graph=True`) so that G's gradient flows through every update,
optimizer moments included. The differentiable Adam is written out (`_adam_update`): torch's
own Adam steps in place, outside autograd. Like jaxgan it adds eps_root inside the square root
(UNROLL_EPS_ROOT: the derivative of sqrt(v) at v = 0 is infinite where a maxout piece has an
exactly zero gradient). D_1 is the update D really takes (with torch.optim).
"""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from jaxgan.trainers.adversarial import UNROLL_EPS_ROOT


class PacGANGenerator(nn.Module):

  def __init__(self, latent_dim, hidden, output_dim=2, use_batch_norm=True):
    super().__init__()
    self.layers = nn.ModuleDict()
    last = latent_dim
    for i, width in enumerate(hidden):
      self.layers[f'linear_{i}'] = nn.Linear(last, width, bias=not use_batch_norm)
      if use_batch_norm:
        self.layers[f'bn_{i}'] = nn.BatchNorm1d(width)   # eps 1e-5, momentum 0.1
      last = width
    self.layers['out'] = nn.Linear(last, output_dim)
    for module in self.layers.values():
      if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
          nn.init.zeros_(module.bias)

  def forward(self, z):
    x = z
    for i in range(len(self.layers) - 1):
      if f'linear_{i}' not in self.layers:
        break
      x = self.layers[f'linear_{i}'](x)
      if f'bn_{i}' in self.layers:
        x = self.layers[f'bn_{i}'](x)
      x = torch.relu(x)
    return self.layers['out'](x)


class MinibatchDiscrimination(nn.Module):
  """o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1), M = x T reshaped [N, B, C]."""

  def __init__(self, in_features, kernels, kernel_dim):
    super().__init__()
    self.kernels, self.kernel_dim = kernels, kernel_dim
    self.kernel = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.05)

  def forward(self, features):
    m = (features @ self.kernel).view(-1, self.kernels, self.kernel_dim)
    l1 = (m[:, None] - m[None, :]).abs().sum(-1)                          # [N, N, B]
    n = features.shape[0]
    off_diagonal = 1.0 - torch.eye(n, dtype=l1.dtype, device=l1.device)
    return (torch.exp(-l1) * off_diagonal[:, :, None]).sum(1)


class MaxoutDiscriminator(nn.Module):

  def __init__(self, input_dim, hidden, pieces=5, minibatch_kernels=0, minibatch_kernel_dim=5):
    super().__init__()
    self.hidden, self.pieces = tuple(hidden), pieces
    self.layers = nn.ModuleDict()
    last = input_dim
    for i, width in enumerate(hidden):
      self.layers[f'maxout_{i}'] = nn.Linear(last, width * pieces)
      last = width
    self.layers['out'] = nn.Linear(last, 1)
    for module in self.layers.values():
      nn.init.normal_(module.weight, 0.0, 0.02)
      nn.init.zeros_(module.bias)
    self.minibatch = None
    if minibatch_kernels:
      self.minibatch = MinibatchDiscrimination(last, minibatch_kernels, minibatch_kernel_dim)
      self.minibatch_out = nn.Linear(minibatch_kernels, 1, bias=False)

  def forward(self, x):
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.hidden):
      x = self.layers[f'maxout_{i}'](x).view(x.shape[0], width, self.pieces).max(-1).values
    logits = self.layers['out'](x).squeeze(1)
    if self.minibatch is not None:
      logits = logits + self.minibatch_out(self.minibatch(x)).squeeze(1)
    return logits


def make_nets(config, data_dim=2):
  """(G, D) for a configs/mixture_*.py config (D input: `model.pack` samples side by side)."""
  model = config.model
  if model.generator != 'pacgan' or model.discriminator != 'maxout':
    raise NotImplementedError('the mixture originals are the pacgan generator and the maxout '
                              f'discriminator; got {model.generator!r} / {model.discriminator!r}')
  if model.minibatch not in ('none', 'discrimination'):
    raise NotImplementedError(f'no PyTorch original for model.minibatch={model.minibatch!r}')
  netG = PacGANGenerator(model.latent_dim, tuple(model.g_hidden), data_dim, model.g_batch_norm)
  kernels = model.minibatch_kernels if model.minibatch == 'discrimination' else 0
  netD = MaxoutDiscriminator(data_dim * model.pack, tuple(model.d_hidden), model.maxout_pieces,
                             kernels, model.minibatch_kernel_dim)
  return netG, netD


# -- porting by name ---------------------------------------------------------------------------

def _torch_entries(net):
  """[(torch state-dict key, collection, jaxgan path, transpose?)] for every tensor of `net`."""
  entries = []
  for name, module in net.named_modules():
    path = tuple(name.split('.')[-1:]) if name else ()
    prefix = name + '.' if name else ''
    if isinstance(module, nn.Linear):
      entries.append((prefix + 'weight', 'params', path + ('kernel',), True))
      if module.bias is not None:
        entries.append((prefix + 'bias', 'params', path + ('bias',), False))
    elif isinstance(module, nn.BatchNorm1d):
      entries += [(prefix + 'weight', 'params', path + ('scale',), False),
                  (prefix + 'bias', 'params', path + ('bias',), False),
                  (prefix + 'running_mean', 'batch_stats', path + ('mean',), False),
                  (prefix + 'running_var', 'batch_stats', path + ('var',), False)]
    elif isinstance(module, MinibatchDiscrimination):
      entries.append((prefix + 'kernel', 'params', path + ('kernel',), False))
  return entries


def _at(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def params_to_torch(net, params, batch_stats=None) -> None:
  """Loads jaxgan variables of the same net into `net` (in place, in `net`'s dtype)."""
  trees = {'params': params, 'batch_stats': batch_stats or {}}
  state = net.state_dict()
  entries = _torch_entries(net)
  for key, collection, path, transpose in entries:
    value = np.array(_at(trees[collection], path))   # a writable copy for torch.from_numpy
    value = value.T if transpose else value
    if tuple(value.shape) != tuple(state[key].shape):
      raise ValueError(f'{"/".join(path)} {value.shape} does not fit {key} {tuple(state[key].shape)}')
    state[key] = torch.from_numpy(np.ascontiguousarray(value)).to(state[key].dtype)
  missing = set(k for k in state if not k.endswith('num_batches_tracked')) - {e[0] for e in entries}
  if missing:
    raise ValueError(f'no jaxgan counterpart for {sorted(missing)}')
  net.load_state_dict(state)


def torch_to_params(net, tensors=None):
  """({params}, {batch_stats}) nested as jaxgan's, from `net` (or from `tensors`, a dict of
  per-parameter values keyed like net.named_parameters(): how optimizer moments are laid out)."""
  source = net.state_dict() if tensors is None else tensors
  trees = {'params': {}, 'batch_stats': {}}
  for key, collection, path, transpose in _torch_entries(net):
    if key not in source:
      continue
    value = source[key].detach().cpu().numpy().copy()   # not a view the optimizer moves
    node = trees[collection]
    for p in path[:-1]:
      node = node.setdefault(p, {})
    node[path[-1]] = value.T if transpose else value
  return trees['params'], trees['batch_stats']


# -- the training step --------------------------------------------------------------------------

def pack(x, m: int):
  """PacGAN: m consecutive samples side by side, [B, D] -> [B / m, m * D] (jaxgan's order)."""
  return x if m == 1 else x.reshape(x.shape[0] // m, -1)


def _adam_update(params, grads, moments, count, lr, b1, b2, eps, eps_root):
  """One Adam step as a function (optax.adam with eps_root): new params and moments."""
  count = count + 1
  new_params, new_moments = [], []
  for p, g, (mu, nu) in zip(params, grads, moments):
    mu = b1 * mu + (1 - b1) * g
    nu = b2 * nu + (1 - b2) * g * g
    mu_hat = mu / (1 - b1 ** count)
    nu_hat = nu / (1 - b2 ** count)
    new_params.append(p - lr * mu_hat / (torch.sqrt(nu_hat + eps_root) + eps))
    new_moments.append((mu, nu))
  return new_params, new_moments, count


class TorchMixtureGAN:
  """Both nets, both torch.optim optimizers and jaxgan's adversarial step for a mixture config."""

  def __init__(self, config, netG=None, netD=None, data_dim=2):
    self.config = config
    model, optim = config.model, config.optim
    if optim.name != 'adam' or optim.get('schedule', 'constant') != 'constant':
      raise NotImplementedError('the mixture originals train with constant-rate Adam')
    if config.objective not in ('non_saturating', 'wasserstein'):
      raise NotImplementedError(f'no PyTorch loss for objective {config.objective!r}')
    if config.regularizer.name not in ('none', 'gradient_penalty') or config.regularizer.clip:
      raise NotImplementedError('the mixture originals know the gradient penalty only')
    if config.train.unroll_steps and config.regularizer.name != 'none':
      raise NotImplementedError('the unrolled original has no penalty (jaxgan redraws its '
                                'interpolates per unrolled update)')
    if netG is None or netD is None:
      netG, netD = make_nets(config, data_dim)
    self.netG, self.netD = netG, netD
    self.pack_size = int(model.pack)
    self.d_steps = int(config.train.d_steps)
    self.unroll_steps = int(config.train.unroll_steps)
    self.wasserstein = config.objective == 'wasserstein'
    self.penalty_weight = (float(config.regularizer.weight)
                           if config.regularizer.name == 'gradient_penalty' else 0.0)
    self.adam = dict(b1=optim.b1, b2=optim.b2, eps=optim.eps)
    self.d_lr = optim.d_lr
    self.optimizerD = torch.optim.Adam(netD.parameters(), lr=optim.d_lr, betas=(optim.b1, optim.b2),
                                       eps=optim.eps)
    self.optimizerG = torch.optim.Adam(netG.parameters(), lr=optim.g_lr, betas=(optim.b1, optim.b2),
                                       eps=optim.eps)
    self.bce = nn.BCEWithLogitsLoss()

  def train(self):
    self.netG.train()
    self.netD.train()
    return self

  def D(self, x, params=None):
    packed = pack(x, self.pack_size)
    if params is None:
      return self.netD(packed)
    names = [n for n, _ in self.netD.named_parameters()]
    return torch.func.functional_call(self.netD, dict(zip(names, params)), (packed,))

  def _d_loss(self, real, fake, eps, params=None):
    real_logits, fake_logits = self.D(real, params), self.D(fake, params)
    if self.wasserstein:
      loss = fake_logits.mean() - real_logits.mean()
    else:
      loss = (self.bce(real_logits, torch.ones_like(real_logits))
              + self.bce(fake_logits, torch.zeros_like(fake_logits)))
    adversarial = loss
    if self.penalty_weight:
      interpolates = (eps * real + (1 - eps) * fake)
      if not interpolates.requires_grad:
        interpolates.requires_grad_(True)
      grads, = torch.autograd.grad(self.D(interpolates, params).sum(), interpolates,
                                   create_graph=True)
      norms = torch.sqrt(grads.pow(2).flatten(1).sum(1) + 1e-12)
      loss = loss + self.penalty_weight * ((norms - 1) ** 2).mean()
    return loss, adversarial

  def _g_loss(self, fake_logits):
    if self.wasserstein:
      return -fake_logits.mean()
    return self.bce(fake_logits, torch.ones_like(fake_logits))

  def _d_update(self, real, fake, eps):
    self.optimizerD.zero_grad()
    loss, adversarial = self._d_loss(real, fake, eps)
    loss.backward()
    self.optimizerD.step()
    return adversarial.detach()

  def _optimizer_moments(self):
    """D's Adam state before an update: ([(exp_avg, exp_avg_sq)] per parameter, step count)."""
    moments, count = [], 0
    for p in self.netD.parameters():
      state = self.optimizerD.state.get(p, {})
      if state:
        moments.append((state['exp_avg'].clone(), state['exp_avg_sq'].clone()))
        count = int(state['step'])
      else:
        moments.append((torch.zeros_like(p), torch.zeros_like(p)))
    return moments, count

  def _unrolled_params(self, real, fake, eps, start_params, moments, count):
    params = start_params
    for _ in range(self.unroll_steps):
      loss, _ = self._d_loss(real, fake, eps, params)
      grads = torch.autograd.grad(loss, params, create_graph=True)
      params, moments, count = _adam_update(params, grads, moments, count, self.d_lr,
                                            eps_root=UNROLL_EPS_ROOT, **self.adam)
    return params

  def step(self, reals: Sequence[torch.Tensor], noises: Sequence[torch.Tensor],
           penalty_eps: Optional[Sequence[torch.Tensor]] = None):
    """One jaxgan step: reals and noises hold `d_steps` batches [B, 2] / [B, nz] (one per critic
    update), penalty_eps `d_steps` interpolation weights [B, 1]. Returns (d_loss, g_loss)."""
    eps = list(penalty_eps) if penalty_eps is not None else [None] * self.d_steps
    for i in range(self.d_steps - 1):
      with torch.no_grad():
        fake = self.netG(noises[i])
      self._d_update(reals[i], fake, eps[i])
    fake = self.netG(noises[-1])
    if self.unroll_steps:
      start = [p.detach().clone().requires_grad_(True) for p in self.netD.parameters()]
      moments, count = self._optimizer_moments()
    err_d = self._d_update(reals[-1], fake.detach(), eps[-1])
    self.optimizerG.zero_grad()
    if self.unroll_steps:
      params = self._unrolled_params(reals[-1], fake, eps[-1], start, moments, count)
      err_g = self._g_loss(self.D(fake, params))
    else:
      err_g = self._g_loss(self.D(fake))
    err_g.backward()
    self.optimizerG.step()
    return err_d, err_g.detach()


# -- the same inputs on both sides ------------------------------------------------------------

def step_inputs(trainer, batch, key, dtype=None):
  """The real batches, latents and penalty interpolation weights that jaxgan's
  `step(state, batch, key)` uses, as `TorchMixtureGAN.step` arguments: critic update i draws
  its latents from fold_in(key, i) and its interpolation weights from fold_in(fold_in(key, i),
  2) in the batch's dtype (jaxgan/trainers/adversarial.py, jaxgan/regularizers.py)."""
  import jax
  points = np.asarray(batch['image'])
  dtype = dtype or points.dtype
  k, b = points.shape[:2]
  keys = [jax.random.fold_in(key, i) for i in range(k)]
  noises = [np.asarray(trainer.sample_latents(key_i, b)) for key_i in keys]
  eps = [np.asarray(jax.random.uniform(jax.random.fold_in(key_i, 2), (b, 1), points.dtype))
         for key_i in keys]
  as_torch = lambda a: torch.from_numpy(np.array(a, dtype))
  return ([as_torch(points[i]) for i in range(k)], [as_torch(z) for z in noises],
          [as_torch(e) for e in eps])


def torch_pair(config, state, dtype=torch.float32):
  """A TorchMixtureGAN (training mode, fresh optimizers) whose nets hold the jaxgan state's
  parameters and BatchNorm statistics."""
  netG, netD = make_nets(config)
  netG.to(dtype)
  netD.to(dtype)
  params_to_torch(netG, state.g.params, state.g.batch_stats)
  params_to_torch(netD, state.d.params, state.d.batch_stats)
  return TorchMixtureGAN(config, netG, netD).train()
