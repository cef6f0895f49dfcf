"""Errors meant for people: each carries one sentence saying what is wrong and how to fix it.

`launch.py` turns any `UserError` into that sentence on stderr and exit status 2; everything
else escaping the training loop is a bug and keeps its traceback. `disk_fault` and
`memory_fault` recognise the faults of the machine (a full disk, a read-only or vanished
workdir, exhausted memory) in the exceptions the stack raises, so that the loop can report
them as a `ResourceError`.
"""
import errno as _errno
import re as _re


class UserError(Exception):
  """Bad input from the user (config, data, workdir, checkpoint): exit status 2."""


class ConfigError(UserError):
  """The config is invalid (unknown field, wrong type, value out of range, unknown name)."""


class DataError(UserError):
  """The dataset is missing or unusable."""


class CheckpointError(UserError):
  """No checkpoint in the workdir can be restored."""


class WorkdirError(UserError):
  """The workdir cannot be created or written."""


class NonFiniteError(UserError):
  """Training produced NaN or Inf and the config asked to stop on it."""


class ResourceError(UserError):
  """The machine ran out of something the run needs (disk space, memory), or the workdir was
  made read-only or removed under the run: not the user's input, but reported like it (one
  line, exit status 2) with what ran out, how much was needed where known, and what to change."""


# -- recognising faults of the machine in the exceptions the stack raises ----------------------

DISK_ERRNOS = (_errno.ENOSPC, _errno.EDQUOT, _errno.EROFS, _errno.ENOENT)
_DISK_TEXTS = {'No space left on device': _errno.ENOSPC, 'Disk quota exceeded': _errno.EDQUOT,
               'Read-only file system': _errno.EROFS, 'No such file or directory': _errno.ENOENT}
_OS_ERROR_CODE = _re.compile(r"os_error_code='?(\d+)")            # tensorstore's error texts
_QUOTED_PATH = _re.compile(r'"(/[^"]+)"')
_ALLOCATING = _re.compile(r'allocat\w*\s+(\d+)\s*bytes', _re.IGNORECASE)


def _chain(error: BaseException):
  """`error`, then the exceptions it was raised from or while handling (each once)."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def disk_fault(error: BaseException):
  """(errno, path or None) when `error` (or one it came from) is a failed write for lack of
  space or quota, on a read-only file system, or into a folder that is gone; else None.

  Recognises OSError and the texts TensorStore (Orbax's writer) raises for them, e.g.
  `RESOURCE_EXHAUSTED: ... Failed writing: "/dir/file": ... [os_error_code='28']`.
  """
  for e in _chain(error):
    if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
      return e.errno, e.filename if isinstance(e.filename, str) else None
  for e in _chain(error):
    text = str(e)
    code = _OS_ERROR_CODE.search(text)
    number = int(code.group(1)) if code else None
    if number not in DISK_ERRNOS:
      number = next((n for phrase, n in _DISK_TEXTS.items() if phrase in text), None)
    if number is not None:
      path = _QUOTED_PATH.search(text)
      return number, path.group(1) if path else None
  return None


def memory_fault(error: BaseException):
  """(bytes requested or None,) when `error` is an allocation that failed for lack of device
  or host memory (XLA's `RESOURCE_EXHAUSTED: Out of memory ...`, `... Out of memory allocating
  N bytes`, TPU's `Ran out of memory`, Python's MemoryError); else None."""
  for e in _chain(error):
    if isinstance(e, MemoryError):
      return (None,)
    if not isinstance(e, RuntimeError) or 'jax' not in type(e).__module__.lower() + \
        type(e).__name__.lower():
      continue
    text = str(e)
    lowered = text.lower()
    if 'out of memory' in lowered or ('resource_exhausted' in lowered and
                                      not _OS_ERROR_CODE.search(text)):
      sizes = [int(n) for n in _ALLOCATING.findall(text)]
      return (max(sizes) if sizes else None,)
  return None
