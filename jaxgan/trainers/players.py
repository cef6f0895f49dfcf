"""What every trainer's state is made of: a Player (one net's parameters, BatchNorm statistics
and optimizer state), and how a net is run with its statistics."""
from typing import Any

import flax
import flax.linen as nn


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
