"""Faults of the machine, not the user: memory checked when a program is compiled, and a full
disk, a read-only or vanished workdir or exhausted memory during a run turned into one line
(ResourceError, exit 2 in launch.py) that says what ran out, how much, and what to change.

  check_memory(compiled, what, config, mesh)  before a compiled program first runs
  Compiled(jitted, check)                     a jitted function compiled once per static
                                              arguments by lower().compile(), checked, then run
  resource_error(error, workdir)              the ResourceError for an exception, or None
"""
import errno
import os
import shutil
from typing import Any, Callable, Dict, Optional

import jax

from jaxgan import parallel
from jaxgan.errors import ResourceError, disk_fault, memory_fault


def size(num_bytes: Optional[float]) -> str:
  """Bytes for people: MB and GB of 2**20 and 2**30 bytes."""
  if num_bytes is None:
    return 'an unknown amount'
  if num_bytes >= 2**30:
    return f'{num_bytes / 2**30:,.1f} GB'
  return f'{num_bytes / 2**20:,.1f} MB'


def free_bytes(path: str) -> Optional[int]:
  while path and not os.path.exists(path):
    path = os.path.dirname(path)
  try:
    return shutil.disk_usage(path or os.sep).free
  except OSError:
    return None


def _available_ram() -> Optional[int]:
  """MemAvailable from /proc/meminfo (Linux), in bytes; None elsewhere."""
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


def memory_capacity(config, mesh):
  """(bytes, what they are, whether a program's arguments count against them) for one device
  of `mesh`, or None where unknown: train.memory_limit_mb when set, else the accelerator's
  allocator limit (`memory_stats()['bytes_limit']`), else on CPU the RAM available now (the
  arguments are in memory already; the local devices share it)."""
  limit_mb = int(config.train.get('memory_limit_mb', 0) or 0)
  if limit_mb > 0:
    return limit_mb * 2**20, f'the limit train.memory_limit_mb={limit_mb}', True
  local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
  device = local[0] if local else jax.local_devices()[0]
  try:
    stats = device.memory_stats()
  except Exception:  # not every backend implements it
    stats = None
  if stats and stats.get('bytes_limit'):
    return int(stats['bytes_limit']), f'the memory of one {device.device_kind}', True
  if device.platform == 'cpu':
    available = _available_ram()
    if available:
      share = f' shared by {len(local)} devices' if len(local) > 1 else ''
      return available // max(len(local), 1), f'the RAM available{share}', False
  return None


def _memory_hints(config, num_steps: Optional[int], data_bytes: int, need: int) -> str:
  hints = ["lower train.batch_size or the model's widths (model.*)"]
  if num_steps and num_steps > 1:
    hints.append(f'run fewer steps per dispatch (loop.steps_per_dispatch, {num_steps} here)')
  if data_bytes and data_bytes * 10 >= need:
    hints.append(f'keep the dataset off the device (data.in_memory=no; it takes '
                 f'{size(data_bytes)})')
  return ', or '.join(hints)


def check_memory(compiled, what: str, config, mesh, num_steps: Optional[int] = None,
                 data_bytes: int = 0) -> None:
  """ResourceError if the compiled program needs more memory on one device than it has
  (`memory_capacity`), from XLA's own figures (`memory_analysis()`: arguments, outputs,
  temporaries, less what outputs reuse of donated arguments). Silent where unknown."""
  try:
    stats = compiled.memory_analysis()
  except Exception:  # not every backend reports it
    return
  if stats is None:
    return
  arguments = int(stats.argument_size_in_bytes)
  outputs = max(int(stats.output_size_in_bytes) - int(stats.alias_size_in_bytes), 0)
  temps = int(stats.temp_size_in_bytes)
  capacity = memory_capacity(config, mesh)
  if capacity is None:
    return
  limit, limit_what, counts_arguments = capacity
  need = outputs + temps + (arguments if counts_arguments else 0)
  too_big = need > limit
  if jax.process_count() > 1:   # hosts may differ in free RAM: all stop, or none
    too_big = parallel.any_process(too_big)
  if not too_big:
    return
  if need <= limit:
    raise ResourceError(f'out of memory: {what} does not fit on the devices of another process '
                        f'(here it needs {size(need)} of {size(limit)}); stopped before it ran: '
                        f'{_memory_hints(config, num_steps, data_bytes, need)}')
  parts = (f'arguments {size(arguments)}, outputs {size(outputs)}, temporaries {size(temps)}'
           if counts_arguments else
           f'outputs {size(outputs)}, temporaries {size(temps)}; its arguments, '
           f'{size(arguments)}, are in memory already')
  device = mesh.devices.flat[0]
  raise ResourceError(
      f'out of memory: {what} needs {size(need)} on one {device.platform} device ({parts}), '
      f'more than {limit_what} ({size(limit)}); stopped before it ran: '
      f'{_memory_hints(config, num_steps, data_bytes, need)}')


class Compiled:
  """A jitted function compiled on its first call for each value of its static arguments, by
  `lower(...).compile()` rather than by jit's own cache, so that the memory the program needs
  is checked (`check_memory`) before it first runs; the loop then calls that very executable
  (one compilation, as before). Called with arguments of another structure, shape or sharding
  than it was compiled for, it compiles and checks again, as jit would."""

  def __init__(self, jitted, check, static_argnums=()):
    self.jitted, self._check, self.static_argnums = jitted, check, tuple(static_argnums)
    self._compiled: Dict[tuple, Callable] = {}
    self._traced: Dict[tuple, Any] = {}
    self.compilations = 0

  def trace(self, *args):
    """The program's jaxpr for these arguments, traced but not compiled. The trace is kept:
    the first call with these static arguments compiles it instead of tracing again."""
    traced = self.jitted.trace(*args)
    self._traced[tuple(args[i] for i in self.static_argnums)] = traced
    return traced.jaxpr

  def _compile(self, key, args):
    traced = self._traced.pop(key, None)
    lowered = traced.lower() if traced is not None else self.jitted.lower(*args)
    compiled = lowered.compile()
    self.compilations += 1
    self._check(compiled, *key)
    self._compiled[key] = compiled
    return compiled

  def __call__(self, *args):
    key = tuple(args[i] for i in self.static_argnums)
    dynamic = [a for i, a in enumerate(args) if i not in self.static_argnums]
    compiled = self._compiled.get(key)
    if compiled is None:
      compiled = self._compile(key, args)
    try:
      return compiled(*dynamic)
    except (TypeError, ValueError) as e:  # not these arguments' program (checked before it runs)
      if 'compiled' not in str(e).lower() and 'pytree' not in str(e).lower():
        raise
      return self._compile(key, args)(*dynamic)

  def lower(self, *args, **kwargs):
    return self.jitted.lower(*args, **kwargs)


def _describe_write(path: Optional[str], workdir: str) -> str:
  if not path:
    return 'its files'
  relative = os.path.relpath(os.path.abspath(path), os.path.abspath(workdir))
  if relative == '.':
    return 'its files'
  first = relative.split(os.sep)[0]
  if first == 'checkpoints' or first.startswith('corrupt_checkpoint'):
    name = relative.split(os.sep)[1] if os.sep in relative else ''
    step = name.split('.')[0]
    return f'checkpoint {step}' if step.isdigit() else 'a checkpoint'
  return {'metrics.jsonl': 'metrics.jsonl', 'metrics.jsonl.tmp': 'metrics.jsonl',
          'tensorboard': 'TensorBoard events', 'samples': 'a sample image',
          'config.json': 'config.json'}.get(first, path if first == '..' else relative)


def _folder_bytes(path: str) -> int:
  total = 0
  for folder, _, files in os.walk(path):
    for name in files:
      try:
        total += os.path.getsize(os.path.join(folder, name))
      except OSError:
        pass
  return total


def _checkpoint_note(checkpoint_dir: str):
  """(what is kept, what to do after the fix) for a run stopped by a fault of the machine."""
  steps = sorted(int(n) for n in (os.listdir(checkpoint_dir) if os.path.isdir(checkpoint_dir)
                                  else []) if n.isdigit())
  if not steps:
    return 'no checkpoint was saved yet', 're-run the same command to start afresh'
  return (f'the checkpoints saved so far are kept (the latest: step {steps[-1]})',
          f're-run the same command to resume from step {steps[-1]}')


def resource_error(error: BaseException, workdir: str) -> Optional[ResourceError]:
  """The one line for a fault of the machine behind `error` (disk full or over quota, a
  read-only or vanished workdir, memory exhausted), or None when it is none of these."""
  workdir = os.path.abspath(workdir)
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  kept, then = _checkpoint_note(checkpoint_dir)
  disk = disk_fault(error)
  if disk is not None:
    number, path = disk
    where = _describe_write(path, workdir)
    if number in (errno.ENOSPC, errno.EDQUOT):
      what = 'no space left on device' if number == errno.ENOSPC else 'disk quota exceeded'
      need = ''
      steps = sorted(int(n) for n in (os.listdir(checkpoint_dir)
                                      if os.path.isdir(checkpoint_dir) else []) if n.isdigit())
      if steps:
        need = (f', a checkpoint takes about '
                f'{size(_folder_bytes(os.path.join(checkpoint_dir, str(steps[-1]))))}')
      inside = not path or not os.path.relpath(os.path.abspath(path), workdir).startswith('..')
      place = f'{where} in {workdir}' if inside else where
      free = free_bytes(workdir if inside else os.path.dirname(os.path.abspath(path)))
      return ResourceError(
          f'{what} writing {place} ({size(free)} free{need}); {kept}: free space there (or '
          f'lower train.keep_checkpoints), then {then}')
    if number == errno.EROFS:
      return ResourceError(
          f'the workdir {workdir} is on a read-only file system (writing {where}); {kept}: '
          f'make it writable again, then {then}')
    # ENOENT: a fault of the machine only if the workdir or its checkpoint folder went away.
    writing = f' (writing {where})' if where != 'its files' else ''
    if not os.path.isdir(workdir):
      return ResourceError(
          f'the workdir {workdir} was removed during the run{writing}, and its checkpoints '
          'with it: re-run the same command to start afresh')
    reported = os.path.abspath(path) if path else ''
    if reported in (workdir, checkpoint_dir) or not os.path.isdir(checkpoint_dir):
      gone = 'the workdir' if reported == workdir else 'the checkpoint folder'
      if kept.startswith('no checkpoint'):
        kept = 'no checkpoint is left'
      return ResourceError(
          f'{gone} {reported or checkpoint_dir} was removed during the run{writing}; '
          f'{kept}: {then}')
    return None
  memory = memory_fault(error)
  if memory is not None:
    (requested,) = memory
    device = jax.devices()[0]
    asked = f'allocating {size(requested)} failed' if requested else 'an allocation failed'
    available = _available_ram() if device.platform == 'cpu' else None
    available = f', {size(available)} of RAM available now' if available else ''
    kind = f' ({device.device_kind})' if device.device_kind != device.platform else ''
    return ResourceError(
        f'out of memory on {device.platform}{kind}: {asked}{available}; '
        "lower train.batch_size or the model's widths (model.*), or run fewer steps per "
        f'dispatch (loop.steps_per_dispatch); {kept}')
  return None


class Folder:
  """A folder a run writes into, remembered by identity (device and inode), so that a write can
  first check that it is still there and still the same folder: a removed workdir or checkpoint
  folder would otherwise be made again by the next write, the run's earlier files lost."""

  def __init__(self, path: str, what: str):
    self.path, self.what = path, what
    try:
      stat = os.stat(path)
      self._identity = (stat.st_dev, stat.st_ino)
    except OSError:  # not visible here (yet): nothing to compare with
      self._identity = None

  def check(self) -> None:
    """FileNotFoundError (which resource_error reports) if the folder is gone or replaced."""
    if self._identity is None:
      return
    try:
      stat = os.stat(self.path)
      same = (stat.st_dev, stat.st_ino) == self._identity
    except FileNotFoundError:
      same = False
    if not same:
      raise FileNotFoundError(errno.ENOENT, f'{self.what} was removed during the run', self.path)
