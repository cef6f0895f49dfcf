"""The one small lookup through which config strings select code.

Each kind of component (architecture, objective, dataset, trainer, ...) has one `Registry`;
modules register themselves with a decorator and the config names them. An unknown name is a
`ConfigError` that lists the known ones.
"""
from typing import Callable, Dict, Generic, TypeVar

from jaxgan.errors import ConfigError

T = TypeVar('T')


class Registry(Generic[T]):

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: Dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(obj: T) -> T:
      if name in self._entries:
        raise ValueError(f'{self.kind} {name!r} is registered twice')
      self._entries[name] = obj
      return obj
    return decorator

  def get(self, name: str, field: str = '') -> T:
    if name not in self._entries:
      where = f' ({field})' if field else ''
      raise ConfigError(
          f'unknown {self.kind} {name!r}{where}; choose one of: {", ".join(sorted(self._entries))}')
    return self._entries[name]

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def names(self):
    return sorted(self._entries)
