"""Field checks shared by the common validation (jaxgan/config.py) and each family's own
(`Trainer.validate_config`). Each raises ConfigError naming the field, in one sentence."""
import ml_collections

from jaxgan.errors import ConfigError


def require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def get(config, path: str):
  node = config
  for part in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(f'the config has no field {path!r}; start from configs/common.py or a '
                        'family default beside it (configs/gan_common.py, configs/vae_common.py)')
    node = node[part]
  return node


def int_field(config, path: str, minimum: int) -> int:
  value = get(config, path)
  require(isinstance(value, int) and not isinstance(value, bool),
          f'{path} must be an integer, got {value!r}')
  require(value >= minimum, f'{path} must be >= {minimum}, got {value}')
  return value


def float_field(config, path: str, low: float, high: float, *, low_inclusive=False) -> float:
  value = get(config, path)
  require(isinstance(value, (int, float)) and not isinstance(value, bool),
          f'{path} must be a number, got {value!r}')
  ok_low = value >= low if low_inclusive else value > low
  require(ok_low and value <= high,
          f'{path} must be in {"[" if low_inclusive else "("}{low}, {high}], got {value}')
  return value


def bool_field(config, path: str) -> bool:
  value = get(config, path)
  require(isinstance(value, bool), f'{path} must be true or false, got {value!r}')
  return value


def choice(config, path: str, choices):
  value = get(config, path)
  require(value in choices, f'{path} must be one of {", ".join(map(str, choices))}; got {value!r}')
  return value


def widths(config, path: str):
  value = get(config, path)
  require(isinstance(value, (tuple, list)) and len(value) > 0 and
          all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in value),
          f'{path} must be a non-empty tuple of positive integers, got {value!r}')
  return tuple(value)
