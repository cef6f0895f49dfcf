"""The one training loop: steps, logging, samples, evaluation, checkpoints, preemption.

Data flows one way: config -> data + trainer -> compiled step -> metrics, samples, checkpoints.
The loop only dispatches compiled work; it touches the host to log, sample, evaluate or
checkpoint, at step counts that are multiples of the configured cadences.
"""
import json
import os
import signal
import sys
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import config as config_lib
from jaxgan import parallel, reporting
from jaxgan.checkpointing import Checkpoints
from jaxgan.data import load_dataset
from jaxgan.data.pipeline import make_batches
from jaxgan.errors import WorkdirError
from jaxgan.trainers import make_trainer

# Fixed streams of randomness, each derived from config.seed.
_INIT, _TRAIN, _SAMPLES = 1, 2, 3


def _prepare_workdir(workdir: str) -> None:
  if not workdir:
    raise WorkdirError('no workdir given; pass --workdir=DIR')
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test_{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f'workdir {workdir!r} is not writable: {e.strerror or e}') from None


def default_steps_per_dispatch(backend: str) -> int:
  # Measured: on XLA:CPU a rolled lax.scan over conv train steps ran far slower than one step
  # per dispatch, and per-dispatch overhead is small next to a CPU step. Accelerators gain
  # from keeping the host out of the loop.
  return 1 if backend == 'cpu' else 20


class _Preemption:
  """SIGTERM/SIGINT ask the loop to finish the current dispatch, checkpoint and exit 0."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested:  # A second signal while stopping: stop now.
      raise KeyboardInterrupt
    self.requested = True
    print(f'received {signal.Signals(signum).name}: finishing the current step, then '
          'checkpointing', file=sys.stderr, flush=True)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _next_boundary(step: int, every: int) -> int:
  return (step // every + 1) * every if every > 0 else sys.maxsize


def _due(step: int, every: int, last: int) -> bool:
  return step == last or (every > 0 and step % every == 0)


def run(config, workdir: str) -> Optional[dict]:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns final metrics."""
  config_lib.validate(config)
  _prepare_workdir(workdir)
  is_writer = jax.process_index() == 0
  mesh = parallel.make_mesh()
  parallel.check_batch_divides(config.train.batch_size, mesh)

  dataset = load_dataset(config.data)
  trainer = make_trainer(config, dataset.info)
  batches = make_batches(config, dataset, trainer.batches_per_step, mesh)

  base_key = jax.random.PRNGKey(config.seed)
  init_key, train_key, sample_key = (jax.random.fold_in(base_key, i) for i in (_INIT, _TRAIN, _SAMPLES))
  k, b = trainer.batches_per_step, config.train.batch_size
  example = {'image': jnp.zeros((k, b) + dataset.info.image_shape, jnp.float32),
             'label': jnp.zeros((k, b), jnp.int32)}
  replicated = parallel.replicated(mesh)
  state = jax.jit(trainer.init, out_shardings=replicated)(init_key, example)

  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), config.train.keep_checkpoints)
  state, restored_step = checkpoints.restore_latest(state)
  if restored_step is not None:
    # Restored arrays may wrap host memory Orbax allocated; copy them into buffers XLA owns so
    # the resumed run executes exactly the programs, on exactly the buffers, of a fresh one.
    state = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree), out_shardings=replicated)(state)
  start_step = int(restored_step or 0)
  if is_writer:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)

  step_fn = trainer.make_step()
  evaluator = None
  if config.eval.every_steps > 0:
    from jaxgan.metrics import make_evaluator
    evaluator = make_evaluator(config, dataset, trainer, mesh)

  def train_chunk(state, device_data, num_steps):
    def one_step(state, _):
      batch = batches.batch_at(device_data, state.step)
      return step_fn(state, batch, jax.random.fold_in(train_key, state.step))
    if num_steps == 1:
      return one_step(state, None)
    state, metrics = jax.lax.scan(one_step, state, None, length=num_steps)
    return state, jax.tree.map(lambda m: m[-1], metrics)

  def train_streamed(state, batch):
    return step_fn(state, batch, jax.random.fold_in(train_key, state.step))

  if batches.in_memory:
    compiled_chunk = jax.jit(train_chunk, static_argnums=2, donate_argnums=0,
                             out_shardings=(replicated, replicated))
  else:
    compiled_stream = jax.jit(train_streamed, donate_argnums=0,
                              out_shardings=(replicated, replicated))
  grid_fn = jax.jit(trainer.grid)

  per_dispatch = config.loop.steps_per_dispatch or default_steps_per_dispatch(jax.default_backend())
  cfg = config.train
  num_steps = cfg.num_steps
  reporter = reporting.Reporter(workdir, num_steps, start_step, cfg.progress_bar, is_writer)
  if restored_step is not None:
    reporter.message(f'resumed from checkpoint at step {start_step} in {checkpoints.directory}')
  reporter.message(f'training {config.model.generator}/{config.model.discriminator} on '
                   f'{dataset.name} {dataset.info.image_shape} with {mesh.devices.size} device(s) '
                   f'({jax.default_backend()}), {"in memory" if batches.in_memory else "streamed"}, '
                   f'steps {start_step}..{num_steps}')

  stream = None if batches.in_memory else batches.iterate(start_step, num_steps)
  step = start_step
  last_log_time, last_log_step = time.time(), step
  final_metrics = None
  with _Preemption() as preemption:
    while step < num_steps and not preemption.requested:
      target = min(num_steps, _next_boundary(step, per_dispatch),
                   _next_boundary(step, cfg.log_every_steps),
                   _next_boundary(step, cfg.sample_every_steps),
                   _next_boundary(step, cfg.checkpoint_every_steps),
                   _next_boundary(step, config.eval.every_steps))
      if batches.in_memory:
        state, metrics = compiled_chunk(state, batches.device_data, target - step)
      else:
        for _ in range(target - step):
          _, batch = next(stream)
          state, metrics = compiled_stream(state, batches.model_input(batch))
      step = target

      if _due(step, cfg.log_every_steps, num_steps):
        values = {name: float(v) for name, v in parallel.fetch(metrics).items()}
        now = time.time()
        values['steps_per_sec'] = (step - last_log_step) / max(now - last_log_time, 1e-9)
        last_log_time, last_log_step = now, step
        reporter.write(step, values)
        reporter.progress(step, values)
        final_metrics = values
      if _due(step, cfg.sample_every_steps, num_steps):
        grid = reporting.image_grid(parallel.fetch(grid_fn(state, sample_key)), trainer.grid_columns)
        if is_writer:
          reporting.save_png(os.path.join(workdir, 'samples', f'step_{step}.png'), grid)
        reporter.image(step, 'samples', grid)
      if evaluator is not None and _due(step, config.eval.every_steps, num_steps):
        results = evaluator(state, step)
        reporter.write(step, results)
        reporter.message(f'eval at step {step}: ' + ' '.join(f'{k}={v:.4g}' for k, v in results.items()))
      if _due(step, cfg.checkpoint_every_steps, num_steps) or preemption.requested:
        checkpoints.save(step, state)

  checkpoints.close()
  reporter.close()
  if preemption.requested and step < num_steps:
    reporter.message(f'stopped at step {step} on request; checkpoint saved. Re-run the same '
                     'command to resume.')
  else:
    reporter.message(f'done: {num_steps} steps. Samples: {os.path.join(workdir, "samples")}  '
                     f'metrics: {reporter.metrics_path}  TensorBoard: {os.path.join(workdir, "tensorboard")}')
  return final_metrics
