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

from jaxgan.config_checks import choice, get, int_field, require
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


def _coerce(field: str, old: Any, new: Any, text: str) -> Any:
  """Returns `new` (parsed from `text`) converted to the type of `old`, or raises ConfigError."""
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
  if isinstance(old, str):   # the word as typed: `prefill=none` is 'none', not 'None'
    return new if isinstance(new, str) else text
  if isinstance(old, (tuple, list)):
    if isinstance(new, (int, float)) and not isinstance(new, bool):
      new = (new,)
    if not isinstance(new, (tuple, list)):
      raise ConfigError(f'{field} must be a tuple like (256, 512), got {new!r}')
    return tuple(new)
  return new


CONFIG_PREFIX = '--config.'


def command_line_overrides(args: Iterable[str]) -> list:
  """The `--config.a.b=value` arguments of a command line as `a.b=value` overrides (for
  apply_overrides); any other argument is a ConfigError."""
  overrides = []
  for arg in args:
    if not arg.startswith(CONFIG_PREFIX):
      raise ConfigError(f'unknown argument {arg!r}; config fields are set as --config.FIELD=VALUE')
    overrides.append(arg[len(CONFIG_PREFIX):])
  return overrides


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
    value = _coerce(field, node[last], _parse_value(text), text)
    with node.unlocked():
      node[last] = value


# ---------------------------------------------------------------------------------------------
# Validation of the fields every experiment has (configs/common.py). Each trainer then checks
# its own family's fields (`validate_config`); names chosen from registries (architectures,
# objectives, sources, evaluators) are checked there too, still before anything compiles.

def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the common fields, then the trainer's; raises ConfigError naming the first bad one."""
  int_field(config, 'seed', 0)
  trainer_name = get(config, 'trainer')
  name = get(config, 'data.name')
  require(isinstance(name, str) and name, 'data.name must be a dataset name such as '
          'offline_mnist or cifar10')
  int_field(config, 'data.image_size', 0)
  choice(config, 'data.resize', ('resize', 'pad'))
  choice(config, 'data.in_memory', ('auto', 'yes', 'no'))
  int_field(config, 'data.max_in_memory_mb', 0)
  int_field(config, 'data.read_threads', 1)
  int_field(config, 'data.prefetch_batches', 1)
  int_field(config, 'train.num_steps', 1)
  int_field(config, 'train.batch_size', 1)
  int_field(config, 'train.log_every_steps', 1)
  int_field(config, 'train.sample_every_steps', 0)
  int_field(config, 'train.checkpoint_every_steps', 0)
  int_field(config, 'train.keep_checkpoints', 1)
  int_field(config, 'train.grid_size', 1)
  choice(config, 'train.progress_bar', ('auto', 'yes', 'no'))
  int_field(config, 'train.memory_limit_mb', 0)
  choice(config, 'train.on_nonfinite', ('stop', 'skip', 'off'))
  from jaxgan.trainers.players import COMPUTE_DTYPES
  choice(config, 'train.compute_dtype', COMPUTE_DTYPES)
  int_field(config, 'loop.steps_per_dispatch', 0)
  int_field(config, 'eval.every_steps', 0)
  from jaxgan import data, metrics, trainers
  data.SOURCES.get(get(config, 'data.source'), 'data.source')
  for evaluator in get(config, 'eval.metrics'):
    metrics.EVALUATORS.get(evaluator, 'eval.metrics').validate_config(config)
  trainers.TRAINERS.get(trainer_name, 'trainer').validate_config(config)
