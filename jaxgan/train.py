"""The one training loop: steps, logging, samples, evaluation, checkpoints, preemption.

Data flows one way: config -> data + trainer -> compiled step -> metrics, samples, checkpoints.
The loop only dispatches compiled work; it touches the host to log, sample, evaluate or
checkpoint, at step counts that are multiples of the configured cadences.
"""
import json
import os
import signal
import sys
import threading
import time
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import config as config_lib
from jaxgan import parallel, reporting
from jaxgan.checkpointing import Checkpoints
from jaxgan.data import load_dataset
from jaxgan.data.pipeline import make_batches
from jaxgan.errors import NonFiniteError, WorkdirError
from jaxgan.trainers import example_batch, make_trainer

# Fixed streams of randomness, each derived from config.seed.
_INIT, _TRAIN, _SAMPLES = 1, 2, 3


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
    raise WorkdirError(f'workdir {workdir!r} is not writable: {e.strerror or e}; pass a folder '
                       'you can write to') from None


_prepare_workdir = check_workdir


def default_steps_per_dispatch(backend: str) -> int:
  # Measured: on XLA:CPU a rolled lax.scan over conv train steps ran far slower than one step
  # per dispatch, and per-dispatch overhead is small next to a CPU step. Accelerators gain
  # from keeping the host out of the loop.
  return 1 if backend == 'cpu' else 20


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
  """Floating leaves of the state grouped by their first two path names (e.g. 'g.params')."""
  groups: Dict[str, list] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      continue
    names = [str(getattr(p, 'name', getattr(p, 'key', getattr(p, 'idx', p)))) for p in path]
    groups.setdefault('.'.join(names[:2]) or 'state', []).append(leaf)
  return groups


class NonFiniteGuard:
  """Checks the losses (floating metrics) and the updated state for NaN/Inf in every step.

  mode 'stop': the first bad update is not applied, the state freezes (every later step in
    the dispatch is a no-op) and the guard records the step and the quantity; the loop raises
    NonFiniteError at its next host touch, before writing anything from that state.
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
        flags.append(jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])))
      self.names, self.num_metrics = names, num_metrics
      flags = jnp.stack(flags)
      finite = jnp.all(flags)
      if self.mode == 'skip':
        out = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
        out = out.replace(step=new_state.step)
        guard = dict(guard, skipped=guard['skipped'] + jnp.where(finite, 0, 1).astype(jnp.int32))
      else:
        fresh = guard['bad_step'] < 0
        apply = finite & fresh
        out = jax.tree.map(lambda new, old: jnp.where(apply, new, old), new_state, state)
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


def run(config, workdir: str) -> Optional[dict]:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns final metrics.

  SIGTERM/SIGINT finish the current dispatch, checkpoint and return normally.
  Raises UserError subclasses (exit 2 in launch.py) for bad input, NonFiniteError when the
  guard stops training.
  """
  config_lib.validate(config)
  with _Preemption() as preemption:
    return _run(config, workdir, preemption)


def _run(config, workdir: str, preemption: _Preemption) -> Optional[dict]:
  _prepare_workdir(workdir)
  is_writer = jax.process_index() == 0
  mesh = parallel.make_mesh()
  parallel.check_batch_divides(config.train.batch_size, mesh)

  dataset = load_dataset(config.data)
  trainer = make_trainer(config, dataset.info)
  batches = make_batches(config, dataset, trainer.batches_per_step, mesh)

  base_key = jax.random.PRNGKey(config.seed)
  init_key, train_key, sample_key = (jax.random.fold_in(base_key, i) for i in (_INIT, _TRAIN, _SAMPLES))
  example = example_batch(trainer, config.train.batch_size, dataset.info.image_shape)
  replicated = parallel.replicated(mesh)
  state = jax.jit(trainer.init, out_shardings=replicated)(init_key, example)

  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints)
  try:
    return _train(config, workdir, preemption, mesh, dataset, trainer, batches, state,
                  checkpoints, train_key, sample_key, is_writer)
  finally:
    checkpoints.close()  # lets an in-flight save finish, also when stopping on an error


def _train(config, workdir, preemption, mesh, dataset, trainer, batches, state, checkpoints,
           train_key, sample_key, is_writer) -> Optional[dict]:
  replicated = parallel.replicated(mesh)
  state, restored_step = checkpoints.restore_latest(state)
  guard = _guard_init(int(checkpoints.loop_info.get('skipped_updates', 0)))
  if restored_step is not None:
    # Restored arrays may wrap host memory Orbax allocated; copy them into buffers XLA owns so
    # the resumed run executes exactly the programs, on exactly the buffers, of a fresh one.
    state = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree), out_shardings=replicated)(state)
  guard = jax.tree.map(lambda v: parallel.replicate_host_array(np.asarray(v), mesh), guard)
  start_step = int(restored_step or 0)
  last_checkpoint = restored_step
  if is_writer:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)

  on_nonfinite = config.train.get('on_nonfinite', 'stop')
  nonfinite = NonFiniteGuard(on_nonfinite)
  step_fn = nonfinite.wrap(trainer.make_step())
  evaluator = None
  if config.eval.every_steps > 0:
    from jaxgan.metrics import make_evaluator
    evaluator = make_evaluator(config, dataset, trainer, mesh)

  def train_chunk(state, guard, device_data, num_steps):
    def one_step(carry, _):
      state, guard = carry
      batch = batches.batch_at(device_data, state.step)
      state, guard, metrics = step_fn(state, guard, batch,
                                      jax.random.fold_in(train_key, state.step))
      return (state, guard), metrics
    if num_steps == 1:
      (state, guard), metrics = one_step((state, guard), None)
      return state, guard, metrics
    (state, guard), metrics = jax.lax.scan(one_step, (state, guard), None, length=num_steps)
    return state, guard, jax.tree.map(lambda m: m[-1], metrics)

  def train_streamed(state, guard, batch):
    return step_fn(state, guard, batch, jax.random.fold_in(train_key, state.step))

  if batches.in_memory:
    compiled_chunk = jax.jit(train_chunk, static_argnums=3, donate_argnums=(0, 1),
                             out_shardings=(replicated, replicated, replicated))
  else:
    compiled_stream = jax.jit(train_streamed, donate_argnums=(0, 1),
                              out_shardings=(replicated, replicated, replicated))
  grid_fn = jax.jit(trainer.grid, out_shardings=replicated)

  per_dispatch = config.loop.steps_per_dispatch or default_steps_per_dispatch(jax.default_backend())
  cfg = config.train
  num_steps = cfg.num_steps
  reporter = reporting.Reporter(workdir, num_steps, start_step, cfg.progress_bar, is_writer)
  try:
    if restored_step is not None:
      reporter.message(f'resumed from checkpoint at step {start_step} in {checkpoints.directory}')
    reporter.message(f'training {config.model.generator}/{config.model.discriminator} on '
                     f'{dataset.name} {dataset.info.image_shape} with {mesh.devices.size} device(s) '
                     f'in {jax.process_count()} process(es) ({jax.default_backend()}), '
                     f'{"in memory" if batches.in_memory else "streamed"}, '
                     f'steps {start_step}..{num_steps}')

    stream = None if batches.in_memory else batches.iterate(start_step, num_steps)
    step = start_step
    last_log_time, last_log_step = time.time(), step
    final_metrics = None
    stopping = preemption.agreed()
    while step < num_steps and not stopping:
      target = min(num_steps, _next_boundary(step, per_dispatch),
                   _next_boundary(step, cfg.log_every_steps),
                   _next_boundary(step, cfg.sample_every_steps),
                   _next_boundary(step, cfg.checkpoint_every_steps),
                   _next_boundary(step, config.eval.every_steps))
      if batches.in_memory:
        state, guard, metrics = compiled_chunk(state, guard, batches.device_data, target - step)
      else:
        for _ in range(target - step):
          _, batch = next(stream)
          state, guard, metrics = compiled_stream(state, guard, batches.model_input(batch))
      step = target
      stopping = preemption.agreed()

      log_due = _due(step, cfg.log_every_steps, num_steps)
      sample_due = _due(step, cfg.sample_every_steps, num_steps)
      eval_due = evaluator is not None and _due(step, config.eval.every_steps, num_steps)
      checkpoint_due = _due(step, cfg.checkpoint_every_steps, num_steps) or stopping
      if not (log_due or sample_due or eval_due or checkpoint_due):
        continue
      guard_host = parallel.fetch(guard)   # syncs: the host only looks at finished steps
      nonfinite.check(guard_host, last_checkpoint, checkpoints.directory)
      if log_due:
        values = {name: float(v) for name, v in parallel.fetch(metrics).items()}
        if on_nonfinite == 'skip':
          values['skipped_updates'] = float(guard_host['skipped'])
        now = time.time()
        values['steps_per_sec'] = (step - last_log_step) / max(now - last_log_time, 1e-9)
        last_log_time, last_log_step = now, step
        reporter.write(step, values)
        reporter.progress(step, values)
        final_metrics = values
      if sample_due:
        grid = reporting.image_grid(parallel.fetch(grid_fn(state, sample_key)), trainer.grid_columns)
        if is_writer:
          reporting.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'), grid)
        reporter.image(step, 'samples', grid)
      if eval_due:
        results = evaluator(state, step)
        reporter.write(step, results)
        reporter.message(f'eval at step {step}: ' + ' '.join(f'{k}={v:.4g}' for k, v in results.items()))
      if checkpoint_due:
        checkpoints.save(step, state, {'skipped_updates': int(guard_host['skipped'])})
        last_checkpoint = step
  finally:
    reporter.close()

  if stopping and step < num_steps:
    saved = 'checkpoint saved' if step > start_step else 'nothing new to save'
    reporter.message(f'stopped at step {step} on request; {saved}. Re-run the same command '
                     'to resume.')
  else:
    reporter.message(f'done: {num_steps} steps. Samples: {os.path.join(workdir, "samples")}  '
                     f'metrics: {reporter.metrics_path}  TensorBoard: {os.path.join(workdir, "tensorboard")}')
  return final_metrics
