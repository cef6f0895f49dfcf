"""The one training loop: steps, logging, samples, evaluation, checkpoints, preemption.

Data flows one way: config -> data + trainer -> compiled step -> metrics, samples, checkpoints.
The loop only dispatches compiled work; it touches the host to log, sample, evaluate or
checkpoint, at step counts that are multiples of the configured cadences, and at the
boundaries of the trainer's phases (jaxgan/trainers: one compiled program per phase).

`Run` (built by `build(config)`) holds what the loop trains with (source, trainer, batches,
phases, keys, the compiled programs); benchmarks time and drive training through it.
"""
import dataclasses
import errno
import json
import os
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import config as config_lib
from jaxgan import faults, parallel, reporting
from jaxgan.checkpointing import Checkpoints
from jaxgan.data import make_source
from jaxgan.data.pipeline import check_enough_records
from jaxgan.errors import (ConfigError, NonFiniteError, ResourceError, UserError,
                           WorkdirError)
from jaxgan.trainers import Phase, make_trainer, state_structure

# Fixed streams of randomness, each derived from config.seed.
_INIT, _TRAIN, _SAMPLES, _PHASES = 1, 2, 3, 4


def check_workdir(workdir: str) -> None:
  """Creates `workdir` if needed and checks that it can be written; WorkdirError if not."""
  if not workdir:
    raise WorkdirError('no workdir given; pass --workdir=DIR')
  path = os.path.abspath(workdir)
  parent = path
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    what = 'is a file' if parent == path else f'is inside {parent!r}, which is a file'
    raise WorkdirError(f'workdir {workdir!r} {what}; pass a folder (it is created if missing)')
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f'.write_test_{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
      raise ResourceError(f'no space left on device for workdir {workdir!r} '
                          f'({faults.size(faults.free_bytes(path))} free); free space there or '
                          'pass another --workdir') from None
    raise WorkdirError(f'workdir {workdir!r} is not writable: {e.strerror or e}; pass a folder '
                       'you can write to') from None


def enable_compilation_cache(path: str) -> None:
  """Points JAX's persistent compilation cache at `path` ('' leaves it off). Every program is
  cached, however quickly it compiled: on CPU most compile in under JAX's default 1 s
  threshold, and together they are most of a short run's start-up."""
  if not path:
    return
  path = os.path.abspath(os.path.expanduser(path))
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f'loop.compilation_cache={path!r} cannot be created: {e.strerror or e}; '
                       'pass a writable folder or --config.loop.compilation_cache= to turn the '
                       'cache off') from None
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


def default_steps_per_dispatch(backend: str, has_convolutions: bool) -> int:
  # Measured on the 2-core CPU, in one process: a rolled lax.scan over convolutional train
  # steps runs about 20x slower on XLA:CPU than one step per dispatch (DCGAN 28x28: 0.7
  # against 15.3 steps/s), while over dense steps 20 per dispatch gains 5-8% (MLP GAN, VAE).
  # Accelerators gain from keeping the host out of the loop.
  if backend == 'cpu' and has_convolutions:
    return 1
  return 20


def _has_primitive(jaxpr, names) -> bool:
  """Whether `jaxpr` or any jaxpr inside it (scan, cond, custom derivatives, ...) uses one of
  the primitives `names`."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in names:
      return True
    for value in eqn.params.values():
      for sub in value if isinstance(value, (tuple, list)) else (value,):
        inner = getattr(sub, 'jaxpr', sub)   # a ClosedJaxpr's jaxpr, or a Jaxpr itself
        if hasattr(inner, 'eqns') and _has_primitive(inner, names):
          return True
  return False


class _Preemption:
  """SIGTERM/SIGINT ask the loop to finish the current dispatch, checkpoint and exit 0.

  Installed for the whole run, so a signal during setup or compilation also stops cleanly
  (before the first step). A second signal while stopping raises KeyboardInterrupt. With
  several processes, `agreed()` stops all of them at the same step when any was asked.
  The handler only records the signal; the loop reports it (printing inside a signal handler
  can collide with the interrupted code's own output).
  """

  def __init__(self):
    self.requested = False
    self._signal = None
    self._reported = False
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested:  # A second signal while stopping: stop now.
      raise KeyboardInterrupt
    self.requested = True
    self._signal = signal.Signals(signum).name

  def agreed(self) -> bool:
    """Whether to stop now; with several processes, whether any process was asked to."""
    if self.requested and not self._reported:
      self._reported = True
      print(f'received {self._signal}: finishing the current step, then checkpointing',
            file=sys.stderr, flush=True)
    if jax.process_count() > 1:
      return parallel.any_process(self.requested)
    return self.requested

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


# ---------------------------------------------------------------------------------------------
# The non-finite guard: wraps any trainer's step, inside the compiled program.

def _guard_init(skipped: int = 0):
  return {'skipped': np.int32(skipped), 'bad_step': np.int32(-1), 'bad_what': np.int32(-1)}


def _finite_groups(state) -> Dict[str, list]:
  """Floating leaves of the state grouped by their first two path names (e.g. 'g.params'),
  optimizer states left out: with Adam, RMSprop and SGD a non-finite gradient makes the
  parameter update non-finite in the same step (NaN, or inf / inf), so non-finite moments
  next to finite parameters cannot happen, and reading the moments (two thirds of an Adam
  state) every step cost the guard most of its time."""
  groups: Dict[str, list] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      continue
    names = [str(getattr(p, 'name', getattr(p, 'key', getattr(p, 'idx', p)))) for p in path]
    if 'opt_state' in names:
      continue
    groups.setdefault('.'.join(names[:2]) or 'state', []).append(leaf)
  return groups


def all_finite(leaves) -> jax.Array:
  """True iff every element of `leaves` is finite, exactly: each leaf (as a matrix) times a
  zero vector, summed. x * 0 is 0 for every finite x (no overflow, however large x is) and
  NaN for NaN and +-Inf, and a NaN survives the sum. XLA runs these as matrix-vector
  products on all cores at memory speed; `all(isfinite(leaf))` over the same leaves cost
  6% of an MLP GAN step on the 2-core CPU (interleaved in one process), this under 1%."""
  total = jnp.zeros((), jnp.float32)
  for leaf in leaves:
    matrix = jnp.reshape(leaf, (-1, leaf.shape[-1]) if leaf.ndim else (1, 1))
    zeros = jnp.zeros((matrix.shape[1],), matrix.dtype)
    total = total + jnp.sum(jnp.dot(matrix, zeros)).astype(jnp.float32)
  return jnp.isfinite(total)


class NonFiniteGuard:
  """Checks the losses (floating metrics) and the updated state for NaN/Inf in every step.

  mode 'stop': the guard records the first bad step and the quantity; the loop raises
    NonFiniteError at its next host touch, before writing anything from that state (nothing
    computed from the bad update is logged, shown or saved; the last checkpoint is kept).
  mode 'skip': a bad update is dropped (the step counter still advances) and counted in
    `skipped` (reported as the `skipped_updates` metric, and saved in checkpoints).
  mode 'off': no checks.
  """

  def __init__(self, mode: str):
    self.mode = mode
    self.names = []   # quantity names, in the order of `bad_what`; filled when tracing
    self.num_metrics = 0

  def wrap(self, step_fn):
    def unguarded(state, guard, batch, key):
      new_state, metrics = step_fn(state, batch, key)
      return new_state, guard, metrics

    if self.mode == 'off':
      return unguarded

    def guarded(state, guard, batch, key):
      new_state, metrics = step_fn(state, batch, key)
      names, flags = [], []
      for name in sorted(metrics):
        value = metrics[name]
        if jnp.issubdtype(jnp.result_type(value), jnp.inexact):
          names.append(name)
          flags.append(jnp.all(jnp.isfinite(value)))
      num_metrics = len(names)
      for name, leaves in _finite_groups(new_state).items():
        names.append(name)
        flags.append(all_finite(leaves))
      self.names, self.num_metrics = names, num_metrics
      flags = jnp.stack(flags)
      finite = jnp.all(flags)
      if self.mode == 'skip':
        out = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
        out = out.replace(step=new_state.step)
        guard = dict(guard, skipped=guard['skipped'] + jnp.where(finite, 0, 1).astype(jnp.int32))
      else:
        # No select over the state here: the loop reads the guard before it writes anything
        # (log, preview, evaluation, checkpoint) and stops, so a bad state is never kept; a
        # where(finite, new, old) over every leaf cost about a quarter of an MLP GAN step.
        out = new_state
        fresh = guard['bad_step'] < 0
        newly_bad = fresh & ~finite
        guard = dict(guard,
                     bad_step=jnp.where(newly_bad, state.step.astype(jnp.int32), guard['bad_step']),
                     bad_what=jnp.where(newly_bad, jnp.argmin(flags).astype(jnp.int32),
                                        guard['bad_what']))
      return out, guard, metrics
    return guarded

  def check(self, guard_host, last_checkpoint: Optional[int], checkpoint_dir: str) -> None:
    """Raises NonFiniteError if the (fetched) guard recorded a bad update in 'stop' mode."""
    bad_step = int(guard_host['bad_step'])
    if bad_step < 0:
      return
    what = int(guard_host['bad_what'])
    quantity = self.names[what] if 0 <= what < len(self.names) else 'a quantity'
    kind = 'a loss or metric' if what < self.num_metrics else 'the updated state'
    kept = (f'the last checkpoint (step {last_checkpoint}) in {checkpoint_dir} is kept'
            if last_checkpoint is not None else 'no checkpoint exists yet')
    raise NonFiniteError(
        f'training step {bad_step + 1} produced NaN or Inf in {quantity} ({kind}); stopped '
        f'without applying it, {kept}. Lower the learning rate, or set '
        'train.on_nonfinite=skip to drop such updates')


def _next_boundary(step: int, every: int) -> int:
  return (step // every + 1) * every if every > 0 else sys.maxsize


def _due(step: int, every: int, last: int) -> bool:
  return step == last or (every > 0 and step % every == 0)


@dataclasses.dataclass(frozen=True)
class Span:
  """Where a phase lies: its steps [start, end) and the index of its first batch in the run's
  stream of batches (phases may consume different numbers of batches per step)."""
  index: int
  phase: Phase
  start: int
  end: int          # sys.maxsize for the last phase
  first_batch: int

  @property
  def batches_per_step(self) -> int:
    return self.phase.batches_per_step

  @property
  def batch_size(self) -> Optional[int]:
    """Examples per batch in this phase; None: train.batch_size (the source's default)."""
    return self.phase.batch_size

  def first_batch_of(self, step):
    """Index of the first batch of `step` (a Python or a traced int)."""
    return self.first_batch + (step - self.start) * self.phase.batches_per_step


def phase_spans(phases: List[Phase]) -> List[Span]:
  if not phases:
    raise ValueError('a trainer must declare at least one phase')
  spans, start, first_batch = [], 0, 0
  for index, phase in enumerate(phases):
    last = index == len(phases) - 1
    if not last and (phase.num_steps is None or phase.num_steps < 1):
      raise ValueError(f'phase {phase.name!r} needs a positive num_steps (only the last phase '
                       'may run until train.num_steps)')
    end = sys.maxsize if last else start + phase.num_steps
    spans.append(Span(index, phase, start, end, first_batch))
    if not last:
      first_batch += phase.num_steps * phase.batches_per_step
    start = end
  return spans


def span_of_step(spans: List[Span], step: int) -> Span:
  """The phase that runs step `step` (0-based)."""
  for span in spans:
    if span.start <= step < span.end:
      return span
  raise ValueError(f'step {step} is in no phase')


def span_of_state(spans: List[Span], step: int) -> Span:
  """The phase whose structure a state after `step` steps has: the one that ran step - 1."""
  return span_of_step(spans, max(step - 1, 0))


def loop_step(step_fn, batches, span: Span):
  """One in-memory training step as the loop runs it: the batch comes from the data on the
  device, the key from fold_in(train_key, step). Pure; benchmarks vmap it over seeds."""
  def one_step(state, guard, device_data, train_key):
    batch = batches.batch_at(device_data, state.step, span.first_batch_of(state.step),
                             span.batches_per_step, span.batch_size)
    return step_fn(state, guard, batch, jax.random.fold_in(train_key, state.step))
  return one_step


class Run:
  """What the loop trains with, built from a config: the data source and its batches, the
  trainer and its phases, the device mesh, the random streams and the compiled programs."""

  def __init__(self, config, mesh=None):
    config_lib.validate(config)
    self.config = config
    enable_compilation_cache(config.loop.compilation_cache)
    self.mesh = mesh if mesh is not None else parallel.make_mesh()
    parallel.check_batch_divides(config.train.batch_size, self.mesh)
    self.source = make_source(config)
    self.trainer = make_trainer(config, self.source.info)
    self.spans = phase_spans(self.trainer.phases())
    self.batches = self.source.make_batches(self.mesh)
    for span in self.spans:
      if span.batch_size is not None:
        self._check_phase_batch(span)
    self.replicated = parallel.replicated(self.mesh)
    base_key = jax.random.PRNGKey(config.seed)
    self.init_key, self.train_key, self.sample_key, self.phase_key = (
        jax.random.fold_in(base_key, i) for i in (_INIT, _TRAIN, _SAMPLES, _PHASES))
    self.guard = NonFiniteGuard(config.train.on_nonfinite)
    self._chunks: Dict[int, Callable] = {}
    self._streams: Dict[int, Callable] = {}
    self._enter: Dict[int, Callable] = {}
    self._per_dispatch: Dict[int, int] = {}

  def _check_phase_batch(self, span: Span) -> None:
    size = span.batch_size
    if size < 1:
      raise ConfigError(f'phase {span.phase.name!r} has a batch size of {size}; it must be >= 1')
    try:
      parallel.check_batch_divides(size, self.mesh)
    except ConfigError as e:
      raise ConfigError(f'phase {span.phase.name!r}: {e}') from None
    records = getattr(self.batches, 'num_records', None)   # synthetic sources have no limit
    if records is not None:
      check_enough_records(records, size, f'train split (phase {span.phase.name!r})')

  def initial_guard(self, skipped: int = 0):
    """The non-finite guard's counters, replicated (saved in checkpoints as `skipped_updates`)."""
    return jax.tree.map(lambda v: parallel.replicate_host_array(np.asarray(v), self.mesh),
                        _guard_init(skipped))

  def example_batch(self, span: Span):
    return self.source.example_batch(span.batches_per_step, span.batch_size)

  def init_state(self):
    """The state before the first step (phase 0), replicated over the mesh; a state that
    cannot fit on the devices stops here, before it is allocated (`check_memory`)."""
    init = faults.Compiled(jax.jit(self.trainer.init, out_shardings=self.replicated),
                           lambda compiled: faults.check_memory(
                               compiled, 'initialising the model', self.config, self.mesh))
    return init(self.init_key, self.example_batch(self.spans[0]))

  def _data_bytes(self) -> int:
    """Bytes of the in-memory dataset on one device (0 when streamed)."""
    if not self.batches.in_memory:
      return 0
    total = 0
    for leaf in jax.tree.leaves(self.batches.device_data):
      shards = getattr(leaf, 'addressable_shards', None)
      total += int(shards[0].data.nbytes) if shards else int(getattr(leaf, 'nbytes', 0))
    return total

  def state_target(self, step: int):
    """Shapes, dtypes and shardings of the state after `step` steps (what a checkpoint of that
    step restores into)."""
    span = span_of_state(self.spans, step)
    shapes = state_structure(self.trainer, self.example_batch(self.spans[0]), span.index)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.replicated),
                        shapes)

  def enter_phase(self, state, span: Span):
    if span.index not in self._enter:
      trainer, index = self.trainer, span.index
      self._enter[span.index] = jax.jit(
          lambda state, key: trainer.enter_phase(state, index, key),
          out_shardings=self.replicated)
    return self._enter[span.index](state, jax.random.fold_in(self.phase_key, span.index))

  def guarded_step(self, span: Span):
    return self.guard.wrap(self.trainer.make_step(span.index))

  def steps_per_dispatch(self, span: Span, state, guard) -> int:
    """`loop.steps_per_dispatch`, or when that is 0 the backend's default for this phase's
    program. On CPU the in-memory chunk is traced once to see whether it convolves; the
    trace is kept, so a one-step chunk then compiles without tracing again."""
    if self.config.loop.steps_per_dispatch:
      return self.config.loop.steps_per_dispatch
    if span.index not in self._per_dispatch:
      backend = jax.default_backend()
      convolves = True   # streamed data goes one step per dispatch whatever this says
      if backend == 'cpu' and self.batches.in_memory:
        jaxpr = self.chunk(span).trace(state, guard, self.batches.device_data, 1)
        convolves = _has_primitive(jaxpr.jaxpr, ('conv_general_dilated',))
      self._per_dispatch[span.index] = default_steps_per_dispatch(backend, convolves)
    return self._per_dispatch[span.index]

  def chunk(self, span: Span):
    """Compiled: (state, guard, device_data, num_steps) -> (state, guard, metrics of the last
    step), `num_steps` (static) in-memory steps of phase `span`, in one dispatch."""
    if span.index not in self._chunks:
      one_step = loop_step(self.guarded_step(span), self.batches, span)
      train_key = self.train_key

      def train_chunk(state, guard, device_data, num_steps):
        if num_steps == 1:
          return one_step(state, guard, device_data, train_key)

        def body(carry, _):
          state, guard, metrics = one_step(*carry, device_data, train_key)
          return (state, guard), metrics
        (state, guard), metrics = jax.lax.scan(body, (state, guard), None, length=num_steps)
        return state, guard, jax.tree.map(lambda m: m[-1], metrics)

      name = span.phase.name

      def check(compiled, num_steps):
        faults.check_memory(compiled, f'the training step of phase {name!r}', self.config,
                            self.mesh, num_steps, self._data_bytes())
      self._chunks[span.index] = faults.Compiled(jax.jit(
          train_chunk, static_argnums=3, donate_argnums=(0, 1),
          out_shardings=(self.replicated, self.replicated, self.replicated)), check,
          static_argnums=(3,))
    return self._chunks[span.index]

  def stream_step(self, span: Span):
    """Compiled: (state, guard, batch) -> (state, guard, metrics), one streamed step."""
    if span.index not in self._streams:
      step_fn, train_key = self.guarded_step(span), self.train_key
      model_input = self.batches.model_input

      def train_streamed(state, guard, raw_batch):
        return step_fn(state, guard, model_input(raw_batch),
                       jax.random.fold_in(train_key, state.step))
      name = span.phase.name
      self._streams[span.index] = faults.Compiled(jax.jit(
          train_streamed, donate_argnums=(0, 1),
          out_shardings=(self.replicated, self.replicated, self.replicated)),
          lambda compiled: faults.check_memory(
              compiled, f'the training step of phase {name!r}', self.config, self.mesh))
    return self._streams[span.index]


def build(config, mesh=None) -> Run:
  return Run(config, mesh)


def run(config, workdir: str, started_at: Optional[float] = None) -> Optional[dict]:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns final metrics.

  `started_at` (a time.perf_counter() value taken when the process started, as launch.py
  does): the start-up line then also counts the time before this call (imports, config).

  SIGTERM/SIGINT finish the current dispatch, checkpoint and return normally.
  Raises UserError subclasses (exit 2 in launch.py) for bad input, NonFiniteError when the
  guard stops training.
  """
  config_lib.validate(config)   # before the workdir is touched (Run validates for its other users)
  with _Preemption() as preemption:
    try:
      return _run(config, workdir, preemption, started_at)
    except UserError:
      raise
    except Exception as e:
      fault = faults.resource_error(e, workdir)
      if fault is None:
        raise
      raise fault from None


def _run(config, workdir: str, preemption: _Preemption, started_at=None) -> Optional[dict]:
  check_workdir(workdir)
  startup = StartupTimes(started_at)
  run_ = build(config)
  startup.mark('build')
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints)
  try:
    result = _train(run_, workdir, preemption, checkpoints, startup)
  except BaseException:
    # Lets an in-flight save finish (joining Orbax's writer threads), also when stopping on
    # an error; that error is then the one reported, not a failure of the save.
    checkpoints.close(quiet=True)
    raise
  checkpoints.close()
  return result


class StartupTimes:
  """Where a run's start-up time goes, reported once after its first dispatch finishes:
  imports and config (when the process start is known), building the run (data source and
  batches, nets, trainer), initialising or restoring the state, then compiling the step (or
  loading it from the persistent compilation cache) and running the first dispatch."""

  _LABELS = (('build', 'building the run (data, nets)'),
             ('state', 'initialising or restoring the state'),
             ('first_dispatch', 'compiling (or loading from the compilation cache) and '
                                'running the first dispatch'))

  def __init__(self, started_at: Optional[float]):
    self.started_at = started_at
    self.marks = {'begin': time.perf_counter()}
    self.reported = False

  def mark(self, name: str) -> None:
    self.marks[name] = time.perf_counter()

  def line(self) -> str:
    self.reported = True
    parts, previous = [], self.marks['begin']
    if self.started_at is not None:
      parts.append(f'{previous - self.started_at:.1f} s imports and config')
    for name, label in self._LABELS:
      if name in self.marks:
        parts.append(f'{self.marks[name] - previous:.1f} s {label}')
        previous = self.marks[name]
    origin = self.marks['begin'] if self.started_at is None else self.started_at
    return f'first dispatch done {previous - origin:.1f} s after start: ' + ', '.join(parts)


def _restore_or_init(run_: Run, checkpoints: Checkpoints):
  """(state, restored step or None): the newest good checkpoint, else a fresh state."""
  state, restored_step = checkpoints.restore_latest(run_.state_target)
  if restored_step is None:
    return run_.init_state(), None
  # Restored arrays may wrap host memory Orbax allocated; copy them into buffers XLA owns so
  # the resumed run executes exactly the programs, on exactly the buffers, of a fresh one.
  state = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree), out_shardings=run_.replicated)(state)
  return state, restored_step


def _train(run_: Run, workdir, preemption, checkpoints, startup: StartupTimes) -> Optional[dict]:
  config, mesh, trainer, source = run_.config, run_.mesh, run_.trainer, run_.source
  is_writer = jax.process_index() == 0
  state, restored_step = _restore_or_init(run_, checkpoints)
  startup.mark('state')
  guard = run_.initial_guard(int(checkpoints.loop_info.get('skipped_updates', 0)))
  start_step = int(restored_step or 0)
  last_checkpoint = restored_step
  if is_writer:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)

  evaluator = None
  if config.eval.every_steps > 0:
    from jaxgan.metrics import make_evaluators
    evaluator = make_evaluators(config, source, trainer.functions(), mesh)
  preview_batch = jax.tree.map(lambda a: parallel.replicate_host_array(np.asarray(a), mesh),
                               source.preview_batch(config.train.grid_size))
  preview_fn = jax.jit(trainer.previews, out_shardings=run_.replicated)

  cfg = config.train
  num_steps = cfg.num_steps
  # Token previews become text through the source's vocabulary (sources of tokens have one).
  reporter = reporting.Reporter(workdir, num_steps, start_step, cfg.progress_bar, is_writer,
                                decode_tokens=getattr(source, 'decode_tokens', None))
  try:
    if restored_step is not None:
      reporter.message(f'resumed from checkpoint at step {start_step} in {checkpoints.directory}')
    phases = ', '.join(s.phase.name for s in run_.spans)
    reporter.message(f'training {config.trainer} ({phases}) on {source.name} '
                     f'{tuple(source.info.image_shape)} with {mesh.devices.size} device(s) '
                     f'in {jax.process_count()} process(es) ({jax.default_backend()}), '
                     f'{"in memory" if run_.batches.in_memory else "streamed"}, '
                     f'steps {start_step}..{num_steps}')

    step = start_step
    state_span = span_of_state(run_.spans, step)
    stream, stream_span = None, None   # streamed data: one reader per phase
    last_log_time, last_log_step = time.time(), step
    final_metrics = None
    stopping = preemption.agreed()
    while step < num_steps and not stopping:
      span = span_of_step(run_.spans, step)
      if span.index != state_span.index:
        state = run_.enter_phase(state, span)
        state_span = span
        reporter.message(f'step {step}: phase {span.phase.name}')
      if not run_.batches.in_memory and stream_span is not span:
        stream = run_.batches.iterate(step, min(num_steps, span.end), span)
        stream_span = span
      per_dispatch = run_.steps_per_dispatch(span, state, guard)
      target = min(num_steps, span.end, _next_boundary(step, per_dispatch),
                   _next_boundary(step, cfg.log_every_steps),
                   _next_boundary(step, cfg.sample_every_steps),
                   _next_boundary(step, cfg.checkpoint_every_steps),
                   _next_boundary(step, config.eval.every_steps))
      if run_.batches.in_memory:
        state, guard, metrics = run_.chunk(span)(state, guard, run_.batches.device_data,
                                                 target - step)
      else:
        stream_step = run_.stream_step(span)
        for _ in range(target - step):
          _, batch = next(stream)
          state, guard, metrics = stream_step(state, guard, batch)
      step = target
      stopping = preemption.agreed()
      if not startup.reported:
        jax.block_until_ready(metrics)   # once: the start-up line times a finished step
        startup.mark('first_dispatch')
        reporter.message(startup.line())

      log_due = _due(step, cfg.log_every_steps, num_steps)
      sample_due = _due(step, cfg.sample_every_steps, num_steps)
      eval_due = evaluator is not None and _due(step, config.eval.every_steps, num_steps)
      checkpoint_due = _due(step, cfg.checkpoint_every_steps, num_steps) or stopping
      # The guard is read at every phase's end too: its quantity names are the phase's own.
      if not (log_due or sample_due or eval_due or checkpoint_due or step == span.end):
        continue
      guard_host = parallel.fetch(guard)   # syncs: the host only looks at finished steps
      run_.guard.check(guard_host, last_checkpoint, checkpoints.directory)
      if log_due:
        values = {name: float(v) for name, v in parallel.fetch(metrics).items()}
        if run_.guard.mode == 'skip':
          values['skipped_updates'] = float(guard_host['skipped'])
        now = time.time()
        values['steps_per_sec'] = (step - last_log_step) / max(now - last_log_time, 1e-9)
        last_log_time, last_log_step = now, step
        reporter.write(step, values)
        reporter.progress(step, values)
        final_metrics = values
      if sample_due:
        previews = parallel.fetch(preview_fn(state, preview_batch, run_.sample_key))
        for name, images in previews.items():
          reporter.preview(step, name, images)
      if eval_due:
        results = evaluator(state, step)
        reporter.write(step, results)
        reporter.message(f'eval at step {step}: ' + ' '.join(f'{k}={v:.4g}' for k, v in results.items()))
      if checkpoint_due:
        checkpoints.save(step, state, {'skipped_updates': int(guard_host['skipped'])})
        last_checkpoint = step
  except BaseException:
    reporter.close(quiet=True)  # the error in flight is the one to report, not a failed flush
    raise
  reporter.close()

  checkpoints.wait()   # the last save is written (or its failure raised) before saying so
  if stopping and step < num_steps:
    saved = 'checkpoint saved' if step > start_step else 'nothing new to save'
    reporter.message(f'stopped at step {step} on request; {saved}. Re-run the same command '
                     'to resume.')
  else:
    reporter.message(f'done: {num_steps} steps. Samples: {os.path.join(workdir, "samples")}  '
                     f'metrics: {reporter.metrics_path}  TensorBoard: '
                     f'`tensorboard --logdir {os.path.join(workdir, "tensorboard")}` '
                     '(pip install tensorboard, or the [tensorboard] extra)')
  return final_metrics
