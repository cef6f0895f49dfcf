"""Checkpoints with Orbax: async saves under DIR/checkpoints (one folder per step), keep the
last N, and restore the newest one that reads back whole and right.

What can go wrong, and what happens:
- A kill during a save: Orbax writes into `N.orbax-checkpoint-tmp-*` and renames it to `N` only
  when complete, so a partial save never carries a step name; leftovers are removed on the
  next start (`cleanup_tmp_directories`).
- A kill while an old checkpoint is being deleted (keep N): old steps are first renamed into
  `checkpoints/deleted/` (one atomic rename) and emptied from there, so no step folder is
  ever half deleted.
- A checkpoint damaged afterwards (truncated or corrupted files): Orbax fails to read it, or it
  reads back values whose CRC32 differs from the one stored next to them (the `loop` item,
  written in the same atomic save). It is reported, moved aside to
  `DIR/corrupt_checkpoint_N`, and the previous step is used. If no step is readable, a
  CheckpointError says so and nothing is changed.
- A checkpoint from a different config (other shapes): a ConfigError says so before anything
  is restored or changed.
- A full disk, or a workdir made read-only or removed, during a save: Orbax's writer threads
  fail; the failure surfaces at the next `save` or at `close` (which join those threads first)
  and the loop reports it in one line (jaxgan/train.py). The partial save is a `*-tmp-*`
  folder, removed at the next start; every committed step is left as it was. What Orbax's
  threads log about such a failure (absl and asyncio ERROR records with tracebacks, the same
  error over and over, then the knock-on `Event loop is closed`) is kept off stderr by
  `quiet_disk_faults`; every other log record passes.

Each step folder holds two Orbax items: `default` (the train state, as before) and `loop`
(JSON: the digest of the state and loop counters such as `skipped_updates`). Checkpoints
without `loop` (older runs) restore without the checksum check.
"""
import json
import logging
import os
import shutil
import sys
import zlib
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import faults, parallel
from jaxgan.errors import CheckpointError, ConfigError, WorkdirError, disk_fault

def _stop_orbax_raw_byte_telemetry():
  """Works around a leak: tensorstore 0.1.86's `experimental_collect_matching_metrics` never
  frees what it returns (about 3 KB a call, measured), and Orbax 0.12 calls it around every
  array write only to log raw-byte throughput. Over a soak run with frequent checkpoints that
  grew RSS without bound (benchmarks/soak.py). Reporting zero raw bytes makes Orbax skip that
  log line; nothing else reads it.
  """
  try:
    from orbax.checkpoint._src.serialization import tensorstore_utils
  except ImportError:  # another Orbax layout: nothing to patch
    return
  if hasattr(tensorstore_utils, 'get_tensorstore_raw_bytes'):
    tensorstore_utils.get_tensorstore_raw_bytes = lambda *args, **kwargs: 0


def _is_plain_local_path_spec(spec) -> bool:
  """{'driver': 'file', 'path': '/an/absolute/normalised/path[/]'} and nothing else."""
  if not (isinstance(spec, dict) and set(spec) == {'driver', 'path'} and
          spec['driver'] == 'file' and isinstance(spec['path'], str)):
    return False
  path = spec['path']
  return os.path.isabs(path) and os.path.normpath(path) == path.rstrip('/')


def _stop_kvstore_spec_json_leak():
  """Works around a second leak: tensorstore's `KvStore.Spec(...).to_json()` never frees what it
  returns (about 260 bytes a call, measured with 100,000 calls on 0.1.80 and 0.1.86), and Orbax
  0.12 calls it once per array per save (`_build_ocdbt_kvstore_tspec`) only to resolve a local
  folder spec, which comes back unchanged. Inside Orbax's tensorstore_utils, `ts.KvStore.Spec`
  is replaced by a stand-in that answers `to_json()` for such specs itself; every other use goes
  to tensorstore. The stand-in is installed only if tensorstore resolves a sample spec to itself.
  """
  try:
    from orbax.checkpoint._src.serialization import tensorstore_utils
    import tensorstore
  except ImportError:
    return
  if getattr(tensorstore_utils, 'ts', None) is not tensorstore:
    return  # another Orbax layout: nothing to patch
  real_kvstore = tensorstore.KvStore
  sample = {'driver': 'file', 'path': os.path.join(os.path.abspath(os.sep), 'jaxgan', 'probe') + '/'}
  if real_kvstore.Spec(sample).to_json() != sample:
    return  # this tensorstore rewrites local specs: leave Orbax as it is

  class LocalSpec:
    """Lazily a real KvStore.Spec; to_json() of a plain local spec without tensorstore."""

    def __init__(self, spec):
      self._json = spec
      self._real = None

    def real(self):
      if self._real is None:
        self._real = real_kvstore.Spec(self._json)
      return self._real

    def to_json(self, *args, **kwargs):
      if not args and not kwargs:
        return dict(self._json)
      return self.real().to_json(*args, **kwargs)

    def __getattr__(self, name):
      return getattr(self.real(), name)

  def make_spec(spec, *args, **kwargs):
    if not args and not kwargs and _is_plain_local_path_spec(spec):
      return LocalSpec(spec)
    return real_kvstore.Spec(spec, *args, **kwargs)

  def open_kvstore(spec, *args, **kwargs):
    return real_kvstore.open(spec.real() if isinstance(spec, LocalSpec) else spec,
                             *args, **kwargs)

  class TensorstoreForOrbax:
    """`tensorstore` as tensorstore_utils sees it: the real module but for KvStore."""

    KvStore = type('KvStore', (), {'Spec': staticmethod(make_spec),
                                   'open': staticmethod(open_kvstore)})

    def __getattr__(self, name):
      return getattr(tensorstore, name)

  tensorstore_utils.ts = TensorstoreForOrbax()


def _drain_failed_orbax_event_loops():
  """Works around a burst of `RuntimeError: Event loop is closed` tracebacks after a failed
  save (a full disk: dozens of them, printed straight to stderr from TensorStore's threads).
  Orbax runs each save coroutine in a fresh event loop and closes it as soon as the coroutine
  raises, while the writes it gathered are still running; each of those, on finishing, calls
  back into the closed loop. Here the loop is kept open until its remaining tasks have
  finished (they fail quickly on a full disk; at most 60 s), and only when the coroutine
  failed: a good save is not touched.
  """
  try:
    from orbax.checkpoint._src import asyncio_utils
  except ImportError:
    return
  if not callable(getattr(asyncio_utils, '_run_sync_via_new_loop', None)):
    return  # another Orbax layout: nothing to patch
  import asyncio

  def run_sync_via_new_loop(coro):
    loop = asyncio.new_event_loop()
    try:
      asyncio.set_event_loop(loop)
      try:
        return loop.run_until_complete(coro)
      except BaseException:
        try:
          pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
          if pending:   # bounded: a write that never ends must not hang the error path
            done, _ = loop.run_until_complete(asyncio.wait(pending, timeout=60))
            for task in done:   # retrieved: the coroutine's own error is the one raised
              if not task.cancelled():
                task.exception()
        except BaseException:  # draining is best effort; the coroutine's error is the one
          pass
        raise
    finally:
      asyncio.set_event_loop(None)
      loop.close()

  asyncio_utils._run_sync_via_new_loop = run_sync_via_new_loop


_stop_orbax_raw_byte_telemetry()
_stop_kvstore_spec_json_leak()
_drain_failed_orbax_event_loops()


class _DiskFaultLogFilter(logging.Filter):
  """Drops the log records that a save failing on a full disk, or a read-only or vanished
  folder, makes Orbax's threads (logger `absl`) and asyncio (`Future exception was never
  retrieved`, at exit) write to stderr: records whose exception or text is such a fault, and,
  once one was seen, Orbax's later ERROR records (the knock-on failures of the same save).
  The loop raises the fault itself, once, as one line."""

  def __init__(self):
    super().__init__()
    self.seen = False

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno < logging.WARNING:
      return True
    exc = record.exc_info[1] if record.exc_info else None
    try:
      text = record.getMessage()
    except Exception:  # a malformed record: let logging report it
      return True
    if (exc is not None and disk_fault(exc)) or disk_fault(Exception(text)):
      self.seen = True
      return False
    from_orbax = f'{os.sep}orbax{os.sep}' in (record.pathname or '') or record.name == 'asyncio'
    return not (self.seen and from_orbax and record.levelno >= logging.ERROR)


_DISK_FAULT_FILTER = _DiskFaultLogFilter()


def quiet_disk_faults() -> None:
  """Installs (once) the filter above on the loggers Orbax's threads write through, and
  forgets faults seen by an earlier run in this process."""
  _DISK_FAULT_FILTER.seen = False
  for name in ('absl', 'asyncio'):
    logger = logging.getLogger(name)
    if _DISK_FAULT_FILTER not in logger.filters:
      logger.addFilter(_DISK_FAULT_FILTER)

STATE_ITEM, LOOP_ITEM = 'default', 'loop'
TRASH = 'deleted'   # old steps are renamed in here, then removed
FORMAT = 1


def _path_name(path) -> str:
  parts = []
  for entry in path:
    for attr in ('name', 'key', 'idx'):
      if hasattr(entry, attr):
        parts.append(str(getattr(entry, attr)))
        break
    else:
      parts.append(str(entry))
  return '.'.join(parts)


def _flat(tree) -> Dict[str, Any]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_path_name(path): leaf for path, leaf in leaves}


def _leaf_digest(value: np.ndarray) -> str:
  shape = list(value.shape)
  data = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
  return f'{value.dtype.name}{shape}:{zlib.crc32(data):08x}'


def state_digest(state: Any) -> Dict[str, str]:
  """CRC32 of every leaf of `state` (host copies; a replicated array is read locally)."""
  digest = {}
  for name, leaf in _flat(state).items():
    if isinstance(leaf, jax.Array) and not (leaf.is_fully_addressable or
                                            leaf.sharding.is_fully_replicated):
      continue  # Sharded across processes: not checked (no whole copy here).
    digest[name] = _leaf_digest(np.asarray(parallel.to_host(leaf)))
  return digest


def _first_line(error: BaseException) -> str:
  text = str(error).strip()
  return (text.splitlines()[0][:200] if text else type(error).__name__)


class Checkpoints:
  """A run's checkpoint folder. `read_only` opens another run's checkpoints (evaluation, a
  distillation teacher) without touching them: no folder made, no unfinished save of a run
  that may still be training cleaned up, no trash emptied, nothing saved."""

  def __init__(self, directory: str, keep: int, read_only: bool = False):
    self.directory = os.path.abspath(directory)
    self.read_only = read_only
    if os.path.exists(self.directory) and not os.path.isdir(self.directory):
      raise WorkdirError(f'{self.directory} is a file, not a checkpoint folder; move it away')
    self.manager = ocp.CheckpointManager(
        self.directory,
        item_handlers={STATE_ITEM: ocp.StandardCheckpointHandler(),
                       LOOP_ITEM: ocp.JsonCheckpointHandler()},
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                             read_only=read_only,
                                             enable_async_checkpointing=True,
                                             cleanup_tmp_directories=not read_only,
                                             todelete_subdir=TRASH))
    self.loop_info: Dict[str, Any] = {}   # the `loop` item of the step restore_latest returned
    quiet_disk_faults()
    # Orbax would make a removed folder again and save into it, the earlier steps lost.
    self._folder = faults.Folder(self.directory, 'the checkpoint folder')
    if not read_only:
      self._empty_trash()

  def steps(self):
    return sorted(self.manager.all_steps())

  # -- restore ----------------------------------------------------------------------------

  def _check_shapes(self, step: int, target: Any) -> None:
    """Raises ConfigError if checkpoint `step` holds differently shaped state than `target`."""
    try:
      metadata = self.manager.item_metadata(step)[STATE_ITEM]
      saved = _flat(getattr(metadata, 'tree', metadata))
    except Exception:  # Unreadable metadata: the restore below reports it.
      return
    if not saved:
      return
    wanted = _flat(target)
    if set(saved) != set(wanted):
      if len(saved) != len(wanted):
        raise ConfigError(
            f'the checkpoints in {self.directory} hold a different model ({len(saved)} arrays; '
            f'this config builds {len(wanted)}); resume with the config they were trained with '
            'or use another --workdir')
      return  # Same count, names spelled differently: let the restore decide.
    for name, leaf in wanted.items():
      got = saved[name]
      shape = tuple(getattr(got, 'shape', ()) or ())
      if shape != tuple(leaf.shape):
        raise ConfigError(
            f'the checkpoints in {self.directory} hold a different model ({name} has shape '
            f'{shape}, this config builds {tuple(leaf.shape)}); resume with the config they '
            'were trained with or use another --workdir')

  def _restore_step(self, step: int, abstract: Any) -> Tuple[Any, Dict[str, Any]]:
    has_loop = os.path.isdir(os.path.join(self.directory, str(step), LOOP_ITEM))
    items = {STATE_ITEM: ocp.args.StandardRestore(abstract)}
    if has_loop:
      items[LOOP_ITEM] = ocp.args.JsonRestore()
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    state = restored[STATE_ITEM]
    loop = dict(restored[LOOP_ITEM]) if has_loop else {}
    if has_loop:
      stored = loop.get('digest') or {}
      actual = state_digest(state)
      for name, value in actual.items():
        if name in stored and stored[name] != value:
          raise ValueError(f'{name} does not match the checksum saved with it')
      missing = sorted(set(stored) - set(actual))
      if missing and len(actual) == len(_flat(state)):
        raise ValueError(f'the saved checksums name arrays the state lacks ({missing[0]}, ...)')
    return state, loop

  def restore_latest(self, target_for_step: Callable[[int], Any]) -> Tuple[Any, Optional[int]]:
    """Restores the newest good checkpoint into the structure and shardings that
    `target_for_step(step)` gives (arrays or ShapeDtypeStructs with shardings: a state's
    structure can depend on its step, e.g. the training phase it belongs to).

    Returns (state, step), or (None, None) when there is no checkpoint; `self.loop_info` then
    holds that step's loop counters. Damaged checkpoints are reported on stderr, moved aside
    and skipped; if none is good, raises CheckpointError and leaves every file in place.
    """
    steps = self.steps()
    if not steps:
      return None, None
    self._check_shapes(steps[-1], target_for_step(steps[-1]))
    failures = []
    for step in reversed(steps):
      error = None
      try:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_for_step(step))
        state, loop = self._restore_step(step, abstract)
      except Exception as e:  # Orbax and TensorStore raise many kinds for damaged files.
        error = e
      if not parallel.any_process(error is not None):
        for bad, reason in failures:
          where = ('left it in place (read only)' if self.read_only
                   else f'moved it to {self._quarantine(bad)}')
          print(f'warning: checkpoint step {bad} in {self.directory} is damaged ({reason}); '
                f'{where} and restored step {step}', file=sys.stderr, flush=True)
        self.loop_info = loop
        return state, step
      failures.append((step, _first_line(error) if error else 'unreadable on another process'))
    tried = '; '.join(f'step {s}: {reason}' for s, reason in failures)
    raise CheckpointError(
        f'no readable checkpoint in {self.directory} ({tried}); nothing was changed: move the '
        'folder away to start afresh')

  def _quarantine(self, step: int) -> str:
    """Moves a damaged step folder to DIR/corrupt_checkpoint_<step>[_k]; returns where."""
    parent = os.path.dirname(self.directory)
    destination = os.path.join(parent, f'corrupt_checkpoint_{step}')
    k = 1
    while os.path.exists(destination):
      destination = os.path.join(parent, f'corrupt_checkpoint_{step}_{k}')
      k += 1
    if jax.process_index() == 0:
      path = os.path.join(self.directory, str(step))
      if os.path.isdir(path):
        os.replace(path, destination)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f'jaxgan_quarantine_{step}')
    self.manager.reload()
    return destination

  # -- save -------------------------------------------------------------------------------

  def _empty_trash(self) -> None:
    """Removes old steps that Orbax renamed into the trash (process 0 only)."""
    trash = os.path.join(self.directory, TRASH)
    if jax.process_index() != 0 or not os.path.isdir(trash):
      return
    for name in os.listdir(trash):
      shutil.rmtree(os.path.join(trash, name), ignore_errors=True)

  def save(self, step: int, state: Any, loop_info: Optional[Dict[str, Any]] = None) -> bool:
    """Starts an async save of `state` at `step`; False if that step is already saved."""
    if step in self.manager.all_steps():
      return False
    self._folder.check()
    loop = {'format': FORMAT, 'step': int(step), **(loop_info or {}),
            'digest': state_digest(state)}
    self.manager.wait_until_finished()  # the previous save and its deletions are done
    self._empty_trash()
    self.manager.save(step, args=ocp.args.Composite(**{
        STATE_ITEM: ocp.args.StandardSave(state),
        LOOP_ITEM: ocp.args.JsonSave(json.loads(json.dumps(loop)))}), force=True)
    return True

  def wait(self) -> None:
    """Blocks until the save in flight is written; raises its failure (e.g. a full disk)."""
    self.manager.wait_until_finished()

  def close(self, quiet: bool = False) -> None:
    """Waits for the save in flight (joining Orbax's writer threads), then closes the manager.

    A save that failed in the background raises here, unless `quiet` (on the way out of
    another error, which is the one to report): then every thread is still joined and the
    manager's parts closed, and the failure is dropped. Orbax re-raises a failed save at each
    wait (and `manager.close()` waits first), so after a failure the parts are closed one by
    one.
    """
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # the failed save: its threads have all ended (joined) by now
      self._close_after_failed_save()
      if quiet:
        return
      raise e
    if not self.read_only:
      self._empty_trash()
    self.manager.close()

  def _close_after_failed_save(self) -> None:
    for name in ('_checkpointer', '_non_blocking_metadata_store', '_blocking_metadata_store',
                 '_checkpoint_deleter'):
      part = getattr(self.manager, name, None)
      try:
        if part is not None:
          part.close()
      except Exception:  # the same failure again, or a part already closed
        pass
