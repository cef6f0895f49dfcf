"""What every trainer's state is made of: a Player (one net's parameters, BatchNorm statistics
and optimizer state), how a net is run with its statistics, and in which precision."""
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Player:
  params: Any
  batch_stats: Any   # {} when the net has no BatchNorm
  opt_state: Any


def apply_net(module: nn.Module, params, batch_stats, *args, train: bool,
              update_stats: bool = True, method=None):
  """Runs `module` (or its `method`); returns (output, batch_stats after the call)."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  if train and batch_stats:
    out, updates = module.apply(variables, *args, train=True, mutable=['batch_stats'],
                                method=method)
    return out, (updates['batch_stats'] if update_stats else batch_stats)
  return module.apply(variables, *args, train=train, method=method), batch_stats


def init_player(module, key, example, tx) -> Player:
  variables = module.init(key, *example, train=False)
  params = variables['params']
  return Player(params, variables.get('batch_stats', {}), tx.init(params))


COMPUTE_DTYPES = ('float32', 'bfloat16')


def _cast_floating(tree, dtype):
  return jax.tree.map(
      lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, tree)


class MixedPrecision:
  """A Flax module run in a lower precision (`train.compute_dtype=bfloat16`): parameters and
  floating inputs are cast to `dtype` for the call, so activations and matrix products are
  computed in it; floating outputs and updated BatchNorm statistics come back as float32. The
  parameters, optimizer states and losses stay float32 (gradients flow back through the casts),
  as mixed-precision training on TPUs and recent GPUs does. `init` is the module's own."""

  def __init__(self, module: nn.Module, dtype):
    self.module = module
    self.dtype = jnp.dtype(dtype)

  def init(self, *args, **kwargs):
    return self.module.init(*args, **kwargs)

  def apply(self, variables, *args, mutable=False, **kwargs):
    variables = dict(variables, params=_cast_floating(variables['params'], self.dtype))
    out = self.module.apply(variables, *_cast_floating(args, self.dtype), mutable=mutable,
                            **kwargs)
    return _cast_floating(out, jnp.float32)

  def __getattr__(self, name):   # methods (encode, decode) and fields of the module
    return getattr(self.module, name)


def with_compute_dtype(module: nn.Module, compute_dtype: str):
  """`module` itself in float32, else wrapped to compute in `compute_dtype`."""
  return module if compute_dtype == 'float32' else MixedPrecision(module, compute_dtype)
