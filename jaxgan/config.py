"""Loading, overriding and validating experiment configs.

A config file is a Python file with `get_config() -> ConfigDict`. Overrides come as
`config.a.b=value` strings; the value is parsed as a Python literal and must fit the type of
the existing field. Everything here raises `ConfigError` with one sentence for the user.
"""
import ast
import importlib.util
import os
import sys
from typing import Any, Iterable

import ml_collections

from jaxgan import regularizers
from jaxgan.errors import ConfigError


def load_config_file(path: str) -> ml_collections.ConfigDict:
  if not path:
    raise ConfigError('no config given; pass --config=configs/NAME.py')
  if not os.path.isfile(path):
    raise ConfigError(f'config file {path!r} does not exist')
  # Config files import `configs.common`, so the folder holding `configs/` must be importable.
  root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
  if root not in sys.path:
    sys.path.insert(0, root)
  try:
    spec = importlib.util.spec_from_file_location('_jaxgan_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  except SyntaxError as e:
    raise ConfigError(f'config file {path!r} does not parse: line {e.lineno}: {e.msg}') from None
  except Exception as e:  # A config file is user input: any failure in it is theirs to fix.
    raise ConfigError(f'config file {path!r} failed to load: {type(e).__name__}: {e}') from None
  if not hasattr(module, 'get_config'):
    raise ConfigError(f'config file {path!r} has no get_config() function')
  config = module.get_config()
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f'get_config() in {path!r} must return an ml_collections.ConfigDict')
  return config


def _parse_value(text: str) -> Any:
  lowered = text.strip().lower()
  if lowered in ('true', 'false'):
    return lowered == 'true'
  if lowered in ('none', 'null'):
    return None
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # A bare word is a string: --config.data.name=cifar10


def _coerce(field: str, old: Any, new: Any) -> Any:
  """Returns `new` converted to the type of `old`, or raises ConfigError."""
  if old is None:
    return new
  if isinstance(old, bool):
    if isinstance(new, bool):
      return new
    raise ConfigError(f'{field} must be true or false, got {new!r}')
  if isinstance(old, int):
    if isinstance(new, bool) or not isinstance(new, int):
      if isinstance(new, float) and new.is_integer():
        return int(new)
      raise ConfigError(f'{field} must be an integer, got {new!r}')
    return new
  if isinstance(old, float):
    if isinstance(new, bool) or not isinstance(new, (int, float)):
      raise ConfigError(f'{field} must be a number, got {new!r}')
    return float(new)
  if isinstance(old, str):
    if not isinstance(new, str):
      return str(new)
    return new
  if isinstance(old, (tuple, list)):
    if isinstance(new, (int, float)) and not isinstance(new, bool):
      new = (new,)
    if not isinstance(new, (tuple, list)):
      raise ConfigError(f'{field} must be a tuple like (256, 512), got {new!r}')
    return tuple(new)
  return new


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> None:
  """Applies `a.b=value` overrides in place; unknown fields and wrong types are errors."""
  for item in overrides:
    if '=' not in item:
      raise ConfigError(f'override {item!r} needs a value: --config.{item}=VALUE')
    field, text = item.split('=', 1)
    parts = field.split('.')
    node = config
    for i, part in enumerate(parts[:-1]):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        raise ConfigError(f'unknown config field {".".join(parts[:i + 1])!r} (in --config.{field})')
      node = node[part]
    last = parts[-1]
    if not isinstance(node, ml_collections.ConfigDict) or last not in node:
      raise ConfigError(f'unknown config field {field!r}')
    if isinstance(node[last], ml_collections.ConfigDict):
      raise ConfigError(f'{field} is a group of fields; set one of: {", ".join(node[last].keys())}')
    value = _coerce(field, node[last], _parse_value(text))
    with node.unlocked():
      node[last] = value


def to_dict(config: ml_collections.ConfigDict) -> dict:
  return config.to_dict()


# ---------------------------------------------------------------------------------------------
# Validation of the fields every experiment has. Names chosen from registries (architectures,
# objectives, trainers) are checked when those are built, which still happens before compiling.

def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _get(config, path):
  node = config
  for part in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(f'the config has no field {path!r}; start from configs/common.py')
    node = node[part]
  return node


def _int_field(config, path, minimum):
  value = _get(config, path)
  _require(isinstance(value, int) and not isinstance(value, bool),
           f'{path} must be an integer, got {value!r}')
  _require(value >= minimum, f'{path} must be >= {minimum}, got {value}')
  return value


def _float_field(config, path, low, high, *, low_inclusive=False):
  value = _get(config, path)
  _require(isinstance(value, (int, float)) and not isinstance(value, bool),
           f'{path} must be a number, got {value!r}')
  ok_low = value >= low if low_inclusive else value > low
  _require(ok_low and value <= high,
           f'{path} must be in {"[" if low_inclusive else "("}{low}, {high}], got {value}')
  return value


def _choice(config, path, choices):
  value = _get(config, path)
  _require(value in choices, f'{path} must be one of {", ".join(map(str, choices))}; got {value!r}')
  return value


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the common fields; raises ConfigError naming the first bad one."""
  _int_field(config, 'seed', 0)
  _require(isinstance(_get(config, 'data.name'), str) and _get(config, 'data.name'),
           'data.name must be a dataset name such as offline_mnist or cifar10')
  _int_field(config, 'data.image_size', 0)
  _choice(config, 'data.in_memory', ('auto', 'yes', 'no'))
  _int_field(config, 'data.max_in_memory_mb', 0)
  _int_field(config, 'data.read_threads', 1)
  _int_field(config, 'data.prefetch_batches', 1)
  _int_field(config, 'model.latent_dim', 1)
  for path in ('model.g_hidden', 'model.d_hidden'):
    widths = _get(config, path)
    _require(isinstance(widths, (tuple, list)) and len(widths) > 0 and
             all(isinstance(w, int) and w > 0 for w in widths),
             f'{path} must be a non-empty tuple of positive integers, got {widths!r}')
  _int_field(config, 'model.g_features', 1)
  _int_field(config, 'model.d_features', 1)
  _float_field(config, 'model.leaky_slope', 0.0, 1.0, low_inclusive=True)
  _choice(config, 'model.sample_statistics', ('batch', 'running'))
  _choice(config, 'optim.name', ('adam', 'rmsprop', 'sgd'))
  _float_field(config, 'optim.g_lr', 0.0, 10.0)
  _float_field(config, 'optim.d_lr', 0.0, 10.0)
  _float_field(config, 'optim.b1', 0.0, 1.0, low_inclusive=True)
  _float_field(config, 'optim.b2', 0.0, 1.0, low_inclusive=True)
  _float_field(config, 'optim.eps', 0.0, 1.0)
  _float_field(config, 'optim.rms_decay', 0.0, 1.0, low_inclusive=True)
  _int_field(config, 'train.num_steps', 1)
  _int_field(config, 'train.batch_size', 1)
  _int_field(config, 'train.d_steps', 1)
  _int_field(config, 'train.log_every_steps', 1)
  _int_field(config, 'train.sample_every_steps', 0)
  _int_field(config, 'train.checkpoint_every_steps', 0)
  _int_field(config, 'train.keep_checkpoints', 1)
  _int_field(config, 'train.grid_size', 1)
  _choice(config, 'train.progress_bar', ('auto', 'yes', 'no'))
  if 'on_nonfinite' in config.train:
    _choice(config, 'train.on_nonfinite', ('stop', 'skip', 'off'))
  _int_field(config, 'loop.steps_per_dispatch', 0)
  _int_field(config, 'eval.every_steps', 0)
  _int_field(config, 'eval.num_samples', 1)
  _validate_adversarial_family(config)  # issue 4's fields, below


# ---------------------------------------------------------------------------------------------
# The adversarial family's fields (issue 4): conditioning, minibatch features, InfoGAN codes,
# penalties and clipping, unrolling, packing. Configs written before these fields existed skip
# these checks.

def _validate_adversarial_family(config: ml_collections.ConfigDict) -> None:
  if 'regularizer' not in config or 'info' not in config:
    return
  _choice(config, 'model.conditioning', ('none', 'concat', 'projection'))
  _int_field(config, 'model.label_embed_dim', 0)
  _choice(config, 'model.minibatch', ('none', 'discrimination', 'stddev'))
  _choice(config, 'model.d_conv', ('auto', 'xla', 'matmul'))
  _int_field(config, 'model.minibatch_kernels', 1)
  _int_field(config, 'model.minibatch_kernel_dim', 1)
  _int_field(config, 'model.minibatch_group', 0)
  _int_field(config, 'model.q_hidden', 1)
  _int_field(config, 'model.maxout_pieces', 1)
  pack = _int_field(config, 'model.pack', 1)
  _require(_get(config, 'train.batch_size') % pack == 0,
           f'train.batch_size={_get(config, "train.batch_size")} must be a multiple of '
           f'model.pack={pack}')
  _choice(config, 'regularizer.name', ('none',) + tuple(regularizers.PENALTIES.names()))
  _float_field(config, 'regularizer.weight', 0.0, 1e6, low_inclusive=True)
  _float_field(config, 'regularizer.clip', 0.0, 1e6, low_inclusive=True)
  _require(not (_get(config, 'regularizer.name') == 'gradient_penalty'
                and _get(config, 'model.d_batch_norm')),
           'regularizer.name=gradient_penalty needs a critic without BatchNorm (the penalty is '
           'per sample; BatchNorm couples them): set model.d_batch_norm=False')
  categories = _int_field(config, 'info.categories', 0)
  _require(categories != 1, 'info.categories must be 0 (no categorical code) or at least 2')
  _int_field(config, 'info.continuous', 0)
  _float_field(config, 'info.categorical_weight', 0.0, 1e6, low_inclusive=True)
  _float_field(config, 'info.continuous_weight', 0.0, 1e6, low_inclusive=True)
  _int_field(config, 'train.unroll_steps', 0)
  _require(not (pack > 1 and (_get(config, 'model.conditioning') != 'none' or categories
                              or _get(config, 'info.continuous'))),
           'model.pack > 1 (PacGAN) does not combine with model.conditioning or InfoGAN codes')

