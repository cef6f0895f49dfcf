"""The PyTorch tutorial VAE (pytorch/examples `vae/main.py`) and its training step, driven by
the same config as jaxgan's VAE (configs/vae.py: `trainer='vae'`, `model.vae='mlp'`).

`TorchVAE` is the original's module, layer for layer and name for name: fc1 Linear(784, 400),
fc21 / fc22 Linear(400, 20) (mean, log variance), fc3 Linear(20, 400), fc4 Linear(400, 784),
ReLU between, registered (and run) in that order, so `jaxgan.porting` maps its state dict onto
jaxgan's `VAE` (encoder/hidden_0, encoder/mean, encoder/log_var, decoder/hidden_0,
decoder/logits) by forward order. The widths come from `config.model.hidden[0]` and
`config.model.latent_dim`, the image size from the config's data (28x28x1: 784). PyTorch
flattens an image (C, H, W), jaxgan (H, W, C): for one channel the same order, so no layout
adjustment is needed (the original is grey MNIST only).

Where the comparison departs from the original, `original=True` (the speed harness) gives the
original and `original=False` (the parity tests) jaxgan's semantics:
  - the loss: the original decodes to probabilities (sigmoid) and takes
    `F.binary_cross_entropy(recon, x, reduction='sum')`; jaxgan computes the same function on
    logits (`binary_cross_entropy_with_logits`), which is stabler;
  - the reduction over the batch: the original sums BCE + KLD over the batch, jaxgan averages
    (its loss is the mean of the per-example negative ELBO). Adam is invariant to a constant
    factor on the loss up to its eps (1e-8 against sqrt(v)), so the two are the same
    optimiser in practice; `original=False` divides the summed loss by the batch size so
    that one Adam step matches jaxgan's step to rounding. The parity tests compare
    per-example values (`per_example_loss`), which neither reduction touches.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.torch_originals import steps


class TorchVAE(nn.Module):
  """pytorch/examples vae/main.py `VAE`, with the widths as parameters (default 784-400-20)."""

  def __init__(self, image_size=784, hidden=400, latent_dim=20):
    super().__init__()
    self.image_size = image_size
    self.fc1 = nn.Linear(image_size, hidden)
    self.fc21 = nn.Linear(hidden, latent_dim)
    self.fc22 = nn.Linear(hidden, latent_dim)
    self.fc3 = nn.Linear(latent_dim, hidden)
    self.fc4 = nn.Linear(hidden, image_size)

  def encode(self, x):
    h1 = F.relu(self.fc1(x))
    return self.fc21(h1), self.fc22(h1)

  def reparameterize(self, mu, logvar, eps=None):
    """z = mu + sigma * eps; eps ~ N(0, I) drawn here as in the original unless given (the
    parity tests feed jaxgan's noise)."""
    std = torch.exp(0.5 * logvar)
    if eps is None:
      eps = torch.randn_like(std)
    return mu + eps * std

  def decode_logits(self, z):
    """fc4(relu(fc3(z))): the Bernoulli decoder's logits, what the loss is computed on."""
    return self.fc4(F.relu(self.fc3(z)))

  def decode(self, z):
    """The original's decoder output: Bernoulli means (probabilities)."""
    return torch.sigmoid(self.decode_logits(z))

  def forward_logits(self, x, eps=None):
    """(logits [B, 784], mu, logvar) for images x [B, 1, 28, 28] (or flat) in [0, 1]."""
    mu, logvar = self.encode(x.view(-1, self.image_size))
    z = self.reparameterize(mu, logvar, eps)
    return self.decode_logits(z), mu, logvar

  def forward(self, x, eps=None):
    """As the original: (reconstruction probabilities [B, 784], mu, logvar)."""
    logits, mu, logvar = self.forward_logits(x, eps)
    return torch.sigmoid(logits), mu, logvar


def per_example_loss(logits, x, mu, logvar, beta=1.0):
  """BCE (summed over pixels, on logits) + beta * KLD per example, [B]: minus jaxgan's
  per-example ELBO term log p(x | z) - beta * KL, with
  KLD = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))."""
  bce = F.binary_cross_entropy_with_logits(logits, x.view(-1, logits.shape[-1]),
                                           reduction='none').sum(-1)
  kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
  return bce + beta * kld


def loss_function(recon_logits, x, mu, logvar, beta=1.0):
  """The original's loss, summed over the batch: BCE + KLD (beta = 1 in the original).

  The original is `F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')` on the
  sigmoid's probabilities; this takes the logits (`binary_cross_entropy_with_logits`), the same
  function computed stably. See `original_loss_function` for the original verbatim."""
  bce = F.binary_cross_entropy_with_logits(recon_logits, x.view(-1, recon_logits.shape[-1]),
                                           reduction='sum')
  kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
  return bce + beta * kld


def original_loss_function(recon_x, x, mu, logvar):
  """pytorch/examples vae/main.py `loss_function`, verbatim (probabilities in, batch summed)."""
  bce = F.binary_cross_entropy(recon_x, x.view(-1, recon_x.shape[-1]), reduction='sum')
  kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
  return bce + kld


def _check_supported(config):
  unsupported = []
  if config.trainer != 'vae':
    unsupported.append(f'trainer={config.trainer!r}')
  if config.model.vae != 'mlp':
    unsupported.append(f'model.vae={config.model.vae!r}')
  if len(tuple(config.model.hidden)) != 1:
    unsupported.append(f'model.hidden={tuple(config.model.hidden)} (the original has one hidden layer)')
  if config.optim.get('schedule', 'constant') != 'constant':
    unsupported.append(f'optim.schedule={config.optim.schedule!r}')
  if unsupported:
    raise NotImplementedError('no PyTorch original yet for ' + ', '.join(unsupported))


class TorchVAETrainer:
  """The net, its optimizer (Adam at config.optim.lr, 1e-3 in the tutorial) and the original's
  training iteration for a jaxgan VAE config. `step(x, eps)` is one iteration of the original's
  `train()` loop on a batch x in [0, 1] (NCHW), which is what jaxgan's 'grey' data mode
  reproduces (the other data modes transform the batch first: pass the transformed x)."""

  def __init__(self, config, image_shape, original=False, net=None):
    _check_supported(config)
    self.config, self.original = config, original
    self.latent_dim = int(config.model.latent_dim)
    self.beta = float(config.vae.beta)
    if original and self.beta != 1.0:
      raise NotImplementedError(f'the original has no KL weight (vae.beta={self.beta})')
    self.net = net if net is not None else TorchVAE(int(np.prod(image_shape)),
                                                    int(config.model.hidden[0]), self.latent_dim)
    self.optimizer = steps.make_optimizer(config.optim, self.net.parameters(), config.optim.lr)
    # Forward callables; `compile()` swaps in torch.compile'd versions of the same module.
    self.model, self.forward_logits = self.net, self.net.forward_logits

  def compile(self, **kwargs):
    self.model = torch.compile(self.net, **kwargs)
    self.forward_logits = torch.compile(self.net.forward_logits, **kwargs)
    return self

  def to(self, device):
    self.net.to(device)   # before the first step: the optimizer's state is still empty
    return self

  def train(self):
    self.net.train()
    return self

  def step(self, x, eps=None):
    """One Adam step on images x [B, C, H, W] in [0, 1] with the latent noise eps [B, nz]
    (None: drawn inside, as the original). Returns the loss, detached: with original=False
    the batch mean of BCE + beta KLD (jaxgan's loss), with original=True the original's sum."""
    self.optimizer.zero_grad()
    if self.original:
      recon, mu, logvar = self.model(x, eps)
      loss = original_loss_function(recon, x, mu, logvar)
    else:
      logits, mu, logvar = self.forward_logits(x, eps)
      # Divided by B: jaxgan's loss is the batch mean (see the module doc).
      loss = loss_function(logits, x, mu, logvar, self.beta) / x.shape[0]
    loss.backward()
    self.optimizer.step()
    return loss.detach()


# ---------------------------------------------------------------------------------------------
# Bridge to jaxgan's VAETrainer state (the VAE's module takes two inputs, x and eps, so the
# single-example helpers of bridge.py are not used for the optimizer state).

def _examples(trainer, dtype):
  import jax.numpy as jnp
  h, w, c = trainer.module.image_shape
  return (jnp.zeros((1, h, w, c), dtype), jnp.zeros((1, trainer.latent_dim), dtype))


def state_from_torch(trainer, tvae: TorchVAETrainer, step: int = 0):
  """jaxgan's `VAEState` equal to a TorchVAETrainer's net and Adam state (moments carried
  over), in the net's dtype (float64 nets give float64 trees, for comparisons under x64)."""
  import jax
  import jax.numpy as jnp
  import optax
  from jaxgan import porting
  from jaxgan.trainers.players import Player
  from jaxgan.trainers.vae import VAEState

  from benchmarks.torch_originals.bridge import as_jax, numpy_state_dict

  net, optimizer = tvae.net, tvae.optimizer
  dtype = next(net.parameters()).detach().numpy().dtype
  x, eps = _examples(trainer, dtype)
  sd = numpy_state_dict(net)
  params = as_jax(porting.torch_to_flax(trainer.module, sd, x, eps, dtype=dtype,
                                        train=False)['params'])
  opt_state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                           jax.eval_shape(trainer.tx.init, params))
  names = {id(p): n for n, p in net.named_parameters()}
  per_param = {names[id(p)]: s for p, s in optimizer.state.items() if id(p) in names}

  def tree(field):
    values = {n: s[field].detach().numpy() for n, s in per_param.items()}
    return as_jax(porting.torch_to_flax_like_params(trainer.module, sd, values, x, eps,
                                                    dtype=dtype, train=False))

  def convert(s):
    if isinstance(s, optax.ScaleByAdamState):
      count = int(next(iter(per_param.values()))['step'])
      return s._replace(count=np.asarray(count, s.count.dtype), mu=tree('exp_avg'),
                        nu=tree('exp_avg_sq'))
    if isinstance(s, tuple) and not hasattr(s, '_fields'):
      return tuple(convert(e) for e in s)
    return s

  if per_param:
    if tvae.config.optim.name != 'adam':
      raise NotImplementedError(f'carrying {tvae.config.optim.name} state over')
    opt_state = convert(opt_state)
  return VAEState(step=jnp.asarray(step, jnp.int32),
                  vae=Player(params, {}, as_jax(opt_state)))
