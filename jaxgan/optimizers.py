"""Optimizers and learning-rate schedules by name, from one `optim` config group.

Every family's `optim` group carries the same shared fields (`name`, `b1`, `b2`, `eps`,
`rms_decay`, `schedule`, `warmup_steps`, `decay_start_step`) next to its own learning rates
(`g_lr`/`d_lr` for the GAN family, `lr` for the VAE). The update rules match PyTorch's.

Schedules are optax schedules of the optimizer's step count:
  constant       the learning rate throughout (passed as a float, so the optimizer state holds
                 no step count: checkpoints of constant-rate runs are as before)
  linear_decay   constant until `decay_start_step`, then linearly to zero at `train.num_steps`
                 (CycleGAN's "100 epochs constant, 100 decaying")
  linear_decay_second_half  linear_decay from half of `train.num_steps` (CycleGAN's equal halves
                 at any run length)
  warmup_cosine  linear warm-up from zero over `warmup_steps`, then cosine decay to zero at
                 `train.num_steps`
"""
from typing import Callable, Union

import jax
import jax.numpy as jnp
import optax

from jaxgan.config_checks import choice, float_field, int_field, require
from jaxgan.registry import Registry

OPTIMIZERS = Registry('optimizer')
SCHEDULES = Registry('learning-rate schedule')

Rate = Union[float, Callable]


def scale_by_torch_adam(b1: float, b2: float, eps: float,
                        eps_root: float = 0.0) -> optax.GradientTransformation:
  """Adam's direction in `torch.optim.Adam`'s arithmetic, with optax's state
  (`optax.ScaleByAdamState`, so checkpoints hold the same tree as `optax.scale_by_adam`'s):

    mu <- mu.lerp(g, 1 - b1)                    (PyTorch's lerp: two forms, by the weight)
    nu <- b2 nu + (1 - b2) g^2
    direction = (mu / (sqrt(nu) / sqrt(1 - b2^t) + eps)) / (1 - b1^t)

  The same rule as optax's, but the order matters to XLA:CPU: from optax's
  `(1 - b1) g + b1 mu` it recomputes the new first moment inside the parameter update and so
  copies the old one (and the parameters) before writing it in place, two extra passes over
  the largest arrays; from the lerp it writes the moments in place and reads them once. On the
  2-core CPU that made the MLP GAN's whole step 13-21% faster (interleaved in one process).
  `eps_root` > 0 keeps the direction differentiable where nu is zero (optax's
  sqrt(nu_hat + eps_root) + eps, for updates that are differentiated, as unrolled GANs do)."""
  weight = 1.0 - b1

  def first_moment(mu, g):
    if weight < 0.5:    # torch's lerp kernel: start + w (end - start), else end - (end - start)(1 - w)
      return mu + weight * (g - mu)
    return g - (g - mu) * (1.0 - weight)

  def init_fn(params):
    return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=optax.tree.zeros_like(params),
                                  nu=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    mu = jax.tree.map(first_moment, state.mu, updates)
    nu = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.nu, updates)
    count = optax.safe_increment(state.count)
    # In the default float type (float64 under jax_enable_x64), then the moments' type, as optax.
    correction1, correction2 = 1.0 - b1 ** count, 1.0 - b2 ** count

    def direction(m, v):
      c1, c2 = correction1.astype(m.dtype), correction2.astype(v.dtype)
      if eps_root:
        return (m / c1) / (jnp.sqrt(v / c2 + eps_root) + eps)
      return (m / (jnp.sqrt(v) / jnp.sqrt(c2) + eps)) / c1
    return (jax.tree.map(direction, mu, nu),
            optax.ScaleByAdamState(count=count, mu=mu, nu=nu))

  return optax.GradientTransformation(init_fn, update_fn)


@OPTIMIZERS.register('adam')
def _adam(optim, learning_rate: Rate, eps_root: float = 0.0):
  # optax.adam's state tree (the moments, then the learning rate's), PyTorch's arithmetic.
  return optax.chain(scale_by_torch_adam(optim.b1, optim.b2, optim.eps, eps_root),
                     optax.scale_by_learning_rate(learning_rate))


@OPTIMIZERS.register('optax_adam')
def _optax_adam(optim, learning_rate: Rate, eps_root: float = 0.0):
  # The same rule in optax's arithmetic (the same state tree, so either resumes the other's
  # checkpoints); benchmarks/speed.py times it against 'adam'.
  return optax.adam(learning_rate, b1=optim.b1, b2=optim.b2, eps=optim.eps, eps_root=eps_root)


@OPTIMIZERS.register('rmsprop')
def _rmsprop(optim, learning_rate: Rate, eps_root: float = 0.0):
  del eps_root
  # torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps).
  return optax.rmsprop(learning_rate, decay=optim.rms_decay, eps=optim.eps, eps_in_sqrt=False)


@OPTIMIZERS.register('sgd')
def _sgd(optim, learning_rate: Rate, eps_root: float = 0.0):
  del optim, eps_root
  return optax.sgd(learning_rate)


@SCHEDULES.register('constant')
def _constant(optim, learning_rate: float, total_steps: int) -> Rate:
  del optim, total_steps
  return learning_rate


@SCHEDULES.register('linear_decay')
def _linear_decay(optim, learning_rate: float, total_steps: int) -> Rate:
  start = int(optim.decay_start_step)
  return optax.join_schedules(
      [optax.constant_schedule(learning_rate),
       optax.linear_schedule(learning_rate, 0.0, max(total_steps - start, 1))], [start])


@SCHEDULES.register('linear_decay_second_half')
def _linear_decay_second_half(optim, learning_rate: float, total_steps: int) -> Rate:
  """linear_decay starting at half of `train.num_steps`: CycleGAN's equal constant and decaying
  halves (100 + 100 epochs) at any run length."""
  del optim
  half = total_steps // 2
  return optax.join_schedules(
      [optax.constant_schedule(learning_rate),
       optax.linear_schedule(learning_rate, 0.0, max(total_steps - half, 1))], [half])


@SCHEDULES.register('warmup_cosine')
def _warmup_cosine(optim, learning_rate: float, total_steps: int) -> Rate:
  warmup = int(optim.warmup_steps)
  return optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup, max(total_steps, warmup + 1))


def make_optimizer(optim, learning_rate: float, total_steps: int = 0,
                   eps_root: float = 0.0) -> optax.GradientTransformation:
  """The optimizer `optim.name` at `learning_rate` under `optim.schedule` over `total_steps`
  updates. `eps_root` > 0 keeps Adam differentiable where a gradient is exactly zero."""
  rate = SCHEDULES.get(optim.schedule, 'optim.schedule')(optim, learning_rate, total_steps)
  return OPTIMIZERS.get(optim.name, 'optim.name')(optim, rate, eps_root)


def validate(config, learning_rates) -> None:
  """Checks the shared `optim` fields and the family's learning-rate fields (e.g. 'g_lr')."""
  choice(config, 'optim.name', OPTIMIZERS.names())
  schedule = choice(config, 'optim.schedule', SCHEDULES.names())
  for name in learning_rates:
    float_field(config, f'optim.{name}', 0.0, 10.0)
  float_field(config, 'optim.b1', 0.0, 1.0, low_inclusive=True)
  float_field(config, 'optim.b2', 0.0, 1.0, low_inclusive=True)
  float_field(config, 'optim.eps', 0.0, 1.0)
  float_field(config, 'optim.rms_decay', 0.0, 1.0, low_inclusive=True)
  warmup = int_field(config, 'optim.warmup_steps', 0)
  start = int_field(config, 'optim.decay_start_step', 0)
  total = config.train.num_steps
  if schedule == 'linear_decay':
    require(start < total, f'optim.decay_start_step={start} must be below '
            f'train.num_steps={total} for optim.schedule=linear_decay')
  if schedule == 'warmup_cosine':
    require(warmup < total, f'optim.warmup_steps={warmup} must be below '
            f'train.num_steps={total} for optim.schedule=warmup_cosine')
