"""Train steps per second: jaxgan against its PyTorch originals, side by side.

  python benchmarks/speed.py                      # every model pair, CPU, results in benchmarks/results/
  python benchmarks/speed.py --models=gan,dcgan28 --repeats=5
  python benchmarks/speed.py --e2e_steps=2000     # also the end-to-end runs (wall time, FD-digits)

For each model pair (`benchmarks/torch_originals.MODELS`: a jaxgan config and its PyTorch
original) and the same batch size and data (the offline digits, held in memory by both), it
times:

  jax (loop default: K/dispatch)  the loop's own compiled chunk (jaxgan/train.py: the
                      trainer's step, the non-finite guard, the in-memory shuffling and
                      slicing) at the loop's default steps per dispatch for that program
                      (on CPU 1 for convolutional steps, else 20 under lax.scan)
  jax (K/dispatch)    the same at K steps per call (--per_dispatch; K > 1 only for
                      --scan_models)
  jax: ...            ablations (--ablation_models), each one piece less than the loop
                      default at its steps per dispatch: the guard off; one fixed batch (no
                      shuffling or slicing); the bare step on it (neither); optax.adam's
                      arithmetic instead of jaxgan's (optim.name=optax_adam)
  torch eager         the original's iteration (benchmarks/torch_originals/steps.py; for the
                      VAE, family 'vae', pytorch/examples vae/main.py's: torch_originals/vae.py)
  torch.compile       the same with both nets (the VAE's one net) wrapped in torch.compile (inductor)

The VAE row times jaxgan's loop step (the same JaxRunner) against the tutorial's eager step on
batches of 128 offline digits as intensities in [0, 1] (configs/vae.py's 'grey' data mode).
The ProGAN rows (progan8, progan16, progan32; family 'progan') time one step of the stable
phase at that resolution (`ModelPair.phase`): jaxgan's loop chunk of that phase, entered as the
loop enters it, against the PyTorch step written from the official code
(torch_originals/progan.py), both at the resolution's minibatch (progan.batch_sizes).
The end-to-end comparison (--e2e_steps: samples a generator and scores FD-digits) is GAN-only.

Repeats are interleaved (every variant once per round, the order rotating), so load from other
processes hits all variants alike; each round yields a ratio to PyTorch eager measured side by
side, and the table reports medians. Compile/warm-up time is measured apart and excluded.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.torch_originals import MODELS  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')


# ---------------------------------------------------------------------------------------------
# Runners: setup() compiles/warms up and returns its time; run(n) trains n steps, returns seconds.

class JaxRunner:
  """jaxgan's training step. mode 'loop' is the loop's own compiled chunk (jaxgan/train.py:
  guard, metrics and the in-memory data path included), built as launch.py builds it; the
  ablation modes take pieces away: 'fixed_batch' the loop's guarded step on one batch already
  on the device (no shuffling or slicing), 'bare' the trainer's step alone on that batch (no
  guard either). `overrides` change the config (e.g. train.on_nonfinite=off). `per_dispatch`
  0 is the loop's own default for this program (`Run.steps_per_dispatch`), resolved in setup."""

  def __init__(self, pair, data_dir, per_dispatch=0, overrides=(), mode='loop', name=''):
    self.pair, self.per_dispatch, self.mode = pair, per_dispatch, mode
    self.requested_name = name
    self.name = name or (f'jax ({per_dispatch}/dispatch)' if per_dispatch else 'jax (loop default)')
    # No persistent compilation cache: the compile column times compiling, not a cache load.
    self.overrides = tuple(overrides) + (f'data.data_dir={data_dir!r}',
                                         "loop.compilation_cache=''")

  def setup(self):
    from jaxgan import train
    run = train.build(self.pair.config(*self.overrides))
    assert run.batches.in_memory
    span = run.spans[0]
    if self.pair.phase:     # a later phase (ProGAN's resolutions): entered as the loop enters it
      span = next(s for s in run.spans if s.phase.name == self.pair.phase)
    start = time.perf_counter()
    self.state, self.guard = run.init_state(), run.initial_guard()
    if span.index:
      for later in run.spans[1:span.index + 1]:
        self.state = run.enter_phase(self.state, later)
      self.state = self.state.replace(step=jax.device_put(
          jnp.asarray(span.start, self.state.step.dtype), run.replicated))
    if not self.per_dispatch:
      self.per_dispatch = run.steps_per_dispatch(span, self.state, self.guard)
      self.name = self.requested_name or f'jax (loop default: {self.per_dispatch}/dispatch)'
    if self.mode == 'loop':
      self.chunk = run.chunk(span)
      self.data = run.batches.device_data
    else:
      batch = run.batches.batch_at(run.batches.device_data, 0, 0, span.batches_per_step,
                                   span.batch_size)
      step_fn = run.guarded_step(span) if self.mode == 'fixed_batch' else None
      bare = run.trainer.make_step(span.index)
      train_key = run.train_key

      def one_step(state, guard, batch):
        key = jax.random.fold_in(train_key, state.step)
        if step_fn is not None:
          return step_fn(state, guard, batch, key)
        state, metrics = bare(state, batch, key)
        return state, guard, metrics

      def fixed(state, guard, batch, num_steps):   # the loop's chunk, on one batch
        if num_steps == 1:
          return one_step(state, guard, batch)

        def body(carry, _):
          state, guard, metrics = one_step(*carry, batch)
          return (state, guard), metrics
        (state, guard), metrics = jax.lax.scan(body, (state, guard), None, length=num_steps)
        return state, guard, jax.tree.map(lambda m: m[-1], metrics)
      self.chunk = jax.jit(fixed, static_argnums=3, donate_argnums=(0, 1))
      self.data = batch
    self.state, self.guard, metrics = self.chunk(self.state, self.guard, self.data, self.per_dispatch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    self.run(self.per_dispatch)  # one more, so caches and allocator are warm
    return compile_s

  def run(self, n):
    calls = max(1, n // self.per_dispatch)
    start = time.perf_counter()
    for _ in range(calls):
      self.state, self.guard, metrics = self.chunk(self.state, self.guard, self.data,
                                                   self.per_dispatch)
    jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - start, calls * self.per_dispatch


class TorchRunner:

  def __init__(self, pair, data_dir, compiled=False, overrides=(), device='cpu'):
    self.pair, self.compiled, self.device = pair, compiled, device
    self.name = 'torch.compile' if compiled else 'torch eager'
    self.overrides = tuple(overrides) + (f'data.data_dir={data_dir!r}',)

  def setup(self):
    import torch
    from jaxgan.data import load_dataset
    config = self.pair.config(*self.overrides)
    dataset = load_dataset(config.data)
    images, _ = dataset.arrays(config.data.train_split)
    torch.manual_seed(config.seed)
    self.batch_size, self.latent_dim = config.train.batch_size, config.model.latent_dim
    if self.pair.family == 'vae':
      from benchmarks.torch_originals.vae import TorchVAETrainer
      if config.vae.data_mode != 'grey':
        raise NotImplementedError(f'the tutorial VAE trains on intensities (vae.data_mode=grey), '
                                  f'not {config.vae.data_mode!r}')
      # The tutorial's inputs: intensities in [0, 1] (jaxgan's grey targets, (x + 1) / 2).
      self.images = torch.from_numpy(
          images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0).to(self.device)
      self.d_steps = 1
      self.model = TorchVAETrainer(config, dataset.info.image_shape,
                                   original=True).to(self.device).train()
    elif self.pair.family == 'progan':
      from benchmarks.torch_originals import progan
      level, fade = progan.level_of_phase(self.pair.phase)
      self.batch_size = progan.phase_batch_size(config, level)
      self.images = torch.from_numpy(
          images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0).to(self.device)
      self.d_steps = 1
      self.model = progan.TorchProGAN(config, dataset.info.image_shape, level, fade,
                                      original=True).to(self.device).train()
    else:
      from benchmarks.torch_originals.steps import TorchGAN
      self.images = torch.from_numpy(
          images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0).to(self.device)
      self.d_steps = config.train.d_steps
      self.model = TorchGAN(config, dataset.info.image_shape, original=True).to(self.device).train()
    if self.compiled:
      self.model.compile()
    self.order, self.position = torch.randperm(len(self.images), device=self.device), 0
    start = time.perf_counter()
    self.run(3)
    return time.perf_counter() - start

  def _batch(self):
    import torch
    if self.position + self.batch_size > len(self.images):  # new epoch, drop_last
      self.order, self.position = torch.randperm(len(self.images), device=self.device), 0
    index = self.order[self.position:self.position + self.batch_size]
    self.position += self.batch_size
    return self.images[index]

  def run(self, n):
    import torch
    start = time.perf_counter()
    if self.pair.family == 'vae':
      for _ in range(n):   # the tutorial's iteration; it draws its eps inside (randn_like)
        self.model.step(self._batch())
    elif self.pair.family == 'progan':
      for _ in range(n):   # a stable phase (alpha 1); latents and mixing weights drawn inside
        self.model.step(self._batch())
    else:
      for _ in range(n):
        reals = [self._batch() for _ in range(self.d_steps)]
        noises = [torch.randn(self.batch_size, self.latent_dim, device=self.device)
                  for _ in range(self.d_steps)]
        self.model.step(reals, noises)
    _synchronize(self.device)   # CUDA runs asynchronously; count the work, not the launches
    return time.perf_counter() - start, n


def _synchronize(device):
  import torch
  if str(device).startswith('cuda'):
    torch.cuda.synchronize()


def default_torch_device():
  """PyTorch on the accelerator JAX uses, so that both sides of a ratio run on one device."""
  import torch
  return 'cuda' if jax.default_backend() == 'gpu' and torch.cuda.is_available() else 'cpu'


# ---------------------------------------------------------------------------------------------

def machine_info():
  import torch
  cpu = platform.processor()
  try:
    with open('/proc/cpuinfo') as f:
      names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  return {
      'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(),
      'python': platform.python_version(), 'jax': jax.__version__,
      'jax_backend': jax.default_backend(), 'jax_devices': [str(d) for d in jax.devices()],
      'jax_device_kind': jax.devices()[0].device_kind,
      'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'load_average_at_start': os.getloadavg(),
  }


def bench_model(pair, data_dir, args, log):
  variants = [JaxRunner(pair, data_dir)]   # the loop as launch.py runs it
  for k in args.per_dispatch:
    if k == 1 or pair.name in args.scan_models:
      variants.append(JaxRunner(pair, data_dir, k))
  if pair.name in args.ablation_models:
    # Each takes one piece from the loop default, at its steps per dispatch.
    variants += [
        JaxRunner(pair, data_dir, overrides=('train.on_nonfinite=off',), name='jax: guard off'),
        JaxRunner(pair, data_dir, mode='fixed_batch', name='jax: one fixed batch'),
        JaxRunner(pair, data_dir, mode='bare', name='jax: bare step, fixed batch'),
        JaxRunner(pair, data_dir, overrides=("optim.name='optax_adam'",),
                  name="jax: optax.adam's arithmetic"),
    ]
  variants.append(TorchRunner(pair, data_dir, compiled=False, device=args.torch_device))
  if args.torch_compile:
    variants.append(TorchRunner(pair, data_dir, compiled=True, device=args.torch_device))
  result = {'model': pair.name, 'description': pair.description, 'config': pair.config_file,
            'overrides': list(pair.overrides), 'variants': {}}
  ready = []
  loop_default = None
  for v in variants:
    if (isinstance(v, JaxRunner) and v.mode == 'loop' and v.per_dispatch and
        not v.requested_name and v.per_dispatch == loop_default):
      continue   # the loop default's row already times it
    if isinstance(v, JaxRunner) and v.requested_name and loop_default:
      v.per_dispatch = loop_default
    try:
      setup_s = v.setup()
      if loop_default is None and isinstance(v, JaxRunner):
        loop_default = v.per_dispatch
      ready.append(v)
      result['variants'][v.name] = {'compile_s': setup_s, 'steps_per_s': []}
      log(f'  {pair.name:8s} {v.name:18s} compile/warm-up {setup_s:6.1f} s')
    except Exception as e:  # torch.compile can fail on a machine without a compiler
      result['variants'][v.name] = {'error': f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'}
      log(f'  {pair.name:8s} {v.name:18s} FAILED: {result["variants"][v.name]["error"]}')
  steps = args.steps.get(pair.name, args.default_steps)
  ratios = {v.name: [] for v in ready}
  for r in range(args.repeats):
    rotated = ready[r % len(ready):] + ready[:r % len(ready)]
    rates = {}
    for v in rotated:
      n = max(steps, v.per_dispatch) if isinstance(v, JaxRunner) else steps
      seconds, done = v.run(n)
      rates[v.name] = done / seconds
      result['variants'][v.name]['steps_per_s'].append(rates[v.name])
    base = rates.get('torch eager')
    for name, rate in rates.items():
      if base:
        ratios[name].append(rate / base)
    log(f'  {pair.name:8s} round {r + 1}/{args.repeats}: ' +
        '  '.join(f'{name} {rate:7.1f}/s' for name, rate in rates.items()))
  for name, values in ratios.items():
    entry = result['variants'][name]
    entry['median_steps_per_s'] = statistics.median(entry['steps_per_s'])
    entry['median_ratio_to_torch_eager'] = statistics.median(values) if values else None
  return result


# ---------------------------------------------------------------------------------------------
# End to end: the PyTorch training loop against `launch.py`, same steps, same data.

def _torch_training_loop(pair, data_dir, num_steps, seed=0, device='cpu'):
  """pytorch/examples style: a shuffling DataLoader (drop_last) over the offline digits, the
  original iteration, losses read with .item() every 100 steps; returns (seconds, TorchGAN)."""
  import torch
  from benchmarks.torch_originals.steps import TorchGAN
  from jaxgan.data import load_dataset
  start = time.perf_counter()
  config = pair.config(f'data.data_dir={data_dir!r}')
  dataset = load_dataset(config.data)
  images, labels = dataset.arrays(config.data.train_split)
  torch.manual_seed(seed)
  tensors = torch.utils.data.TensorDataset(
      torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0))
  loader = torch.utils.data.DataLoader(tensors, batch_size=config.train.batch_size, shuffle=True,
                                       drop_last=True)
  gan = TorchGAN(config, dataset.info.image_shape, original=True).to(device).train()
  step, k = 0, config.train.d_steps
  while step < num_steps:
    batches = iter(loader)
    while step < num_steps:
      try:
        reals = [next(batches)[0].to(device, non_blocking=True) for _ in range(k)]
      except StopIteration:
        break
      noises = [torch.randn(config.train.batch_size, config.model.latent_dim, device=device)
                for _ in range(k)]
      err_d, err_g = gan.step(reals, noises)
      step += 1
      if step % 100 == 0:
        err_d.item(), err_g.item()
  _synchronize(device)
  return time.perf_counter() - start, gan


def _fd_digits(pair, data_dir, images_nhwc):
  """FD-digits of generated images against the held-out digits (jaxgan.metrics), or None."""
  try:
    from jaxgan.data import load_dataset
    from jaxgan.metrics import load_digit_classifier, scores
    from jaxgan.metrics.evaluator import DigitFeatures
  except ImportError:
    return None
  if images_nhwc.shape[1:] != (28, 28, 1):
    return None
  config = pair.config(f'data.data_dir={data_dir!r}')
  dataset = load_dataset(config.data)
  real, _ = dataset.arrays(config.data.eval_split)
  net = DigitFeatures(load_digit_classifier(data_dir), 1)
  apply = jax.jit(net.apply)

  def features(x):
    return np.concatenate([np.asarray(apply(jnp.asarray(x[i:i + 500]))[0])
                           for i in range(0, len(x), 500)])
  return scores.frechet_distance_of(features(real.astype(np.float32) / 127.5 - 1.0),
                                    features(images_nhwc))


def _timed_launch(pair, data_dir, workdir, num_steps, log_every, compilation_cache=None):
  """Runs the real command line, `launch.py` in a fresh process, for `num_steps` (one sample
  grid and one checkpoint, at the end); returns (wall seconds, the finished process, the
  command as a user would type it). `compilation_cache`: a folder for XLA's persistent cache
  (None: the config's default)."""
  cache = [] if compilation_cache is None else [f'--config.loop.compilation_cache={compilation_cache}']
  cmd = [sys.executable, os.path.join(ROOT, 'launch.py'), f'--config={pair.config_file}',
         f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
         f'--config.train.num_steps={num_steps}', f'--config.train.log_every_steps={log_every}',
         f'--config.train.sample_every_steps={num_steps}',
         f'--config.train.checkpoint_every_steps={num_steps}', '--config.train.progress_bar=no',
         *[f'--config.{o}' for o in pair.overrides], *cache]
  start = time.perf_counter()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  seconds = time.perf_counter() - start
  # Without the temporary workdir and data dir, which are this run's own.
  command = ' '.join(['python', 'launch.py', cmd[2], '--workdir=DIR'] +
                     [c for c in cmd[5:] if c not in cache])
  return seconds, proc, command


def end_to_end(pair, data_dir, num_steps, num_samples, log, torch_device='cpu', rounds=1):
  """`rounds` interleaved rounds of: launch.py with an empty compilation cache (cold, as on a
  new machine), launch.py again in a fresh workdir with the cache that run filled (warm: a
  second run, or a resume after preemption), and the PyTorch loop. Medians of the wall times
  and of the per-round ratios; FD-digits from the last round's samples."""
  import torch
  out = {'model': pair.name, 'steps': num_steps, 'rounds': rounds}
  walls = {'jax_cold': [], 'jax_warm': [], 'torch': []}
  for r in range(rounds):
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cold, \
         tempfile.TemporaryDirectory() as warm:
      for name, workdir in (('jax_cold', cold), ('jax_warm', warm)):
        seconds, proc, out['jax_command'] = _timed_launch(
            pair, data_dir, workdir, num_steps, log_every=100, compilation_cache=cache)
        if proc.returncode:
          out['jax_error'] = proc.stderr[-2000:]
          log(f'  e2e {pair.name}: jaxgan failed: {proc.stderr[-500:]}')
          return out
        walls[name].append(seconds)
      if r == rounds - 1:
        samples = _jax_samples(pair, data_dir, warm, num_steps, num_samples)
    seconds, gan = _torch_training_loop(pair, data_dir, num_steps, device=torch_device)
    walls['torch'].append(seconds)
    log(f'  e2e {pair.name} round {r + 1}/{rounds}: jaxgan {walls["jax_cold"][-1]:.1f} s cold '
        f'cache, {walls["jax_warm"][-1]:.1f} s warm, torch {seconds:.1f} s')
  for name, values in walls.items():
    out[f'{name}_wall_s'] = statistics.median(values)
    out[f'{name}_wall_s_rounds'] = values
  out['speedup'] = statistics.median(t / j for t, j in zip(walls['torch'], walls['jax_cold']))
  out['speedup_warm'] = statistics.median(t / j for t, j in zip(walls['torch'], walls['jax_warm']))
  out['jax_fd_digits'] = _fd_digits(pair, data_dir, samples)
  with torch.no_grad():  # training-mode generator (batch statistics), as the original samples
    fakes = [gan.netG(torch.randn(64, gan.latent_dim, device=torch_device))
             for _ in range(-(-num_samples // 64))]
  torch_samples = torch.cat(fakes)[:num_samples].cpu().numpy().transpose(0, 2, 3, 1)
  out['torch_fd_digits'] = _fd_digits(pair, data_dir, torch_samples)
  log(f'  e2e {pair.name}: medians jaxgan {out["jax_cold_wall_s"]:.1f} s cold, '
      f'{out["jax_warm_wall_s"]:.1f} s warm (FD {out["jax_fd_digits"]:.1f}), torch '
      f'{out["torch_wall_s"]:.1f} s (FD {out["torch_fd_digits"]:.1f})')
  return out


def epochs_run(pair, data_dir, epochs, images_per_epoch, log):
  """Wall time of `launch.py` training `epochs` passes over `images_per_epoch` images (the
  H100 target: the MLP GAN, 100 epochs of MNIST's 60,000, under 60 s), counted as a user
  would: a fresh process, so imports, data loading, compilation and the final checkpoint count.
  The steps are epochs x images // batch whatever the data holds (the offline digits are
  5,000 images, so they are cycled; a step costs the same either way: batches are sliced
  on the device)."""
  config = pair.config(f'data.data_dir={data_dir!r}')
  num_steps = epochs * images_per_epoch // config.train.batch_size
  with tempfile.TemporaryDirectory() as workdir:
    seconds, proc, command = _timed_launch(pair, data_dir, workdir, num_steps,
                                           log_every=max(num_steps // 10, 1))
  out = {'model': pair.name, 'epochs': epochs, 'images_per_epoch': images_per_epoch,
         'batch_size': config.train.batch_size, 'steps': num_steps, 'wall_s': seconds,
         'steps_per_s': num_steps / seconds, 'command': command}
  if proc.returncode:
    out['error'] = proc.stderr[-2000:]
    log(f'  epochs {pair.name}: launch.py failed: {proc.stderr[-500:]}')
  else:
    log(f'  epochs {pair.name}: {epochs} x {images_per_epoch} images = {num_steps} steps in '
        f'{seconds:.1f} s (compilation included)')
  return out


def _jax_samples(pair, data_dir, workdir, num_steps, num_samples):
  """Samples of the trained jaxgan generator, restored from the run's last checkpoint, drawn
  in batches of the training size with batch statistics (as the PyTorch loop samples)."""
  from jaxgan.evaluate import restore_trained_state
  config = pair.config(f'data.data_dir={data_dir!r}')
  run, state, step = restore_trained_state(config, workdir)
  trainer = run.trainer
  assert step == num_steps, step
  b = config.train.batch_size
  sample = jax.jit(lambda s, key: trainer.sample(s, key, b))
  key = jax.random.PRNGKey(123)
  batches = [np.asarray(sample(state, jax.random.fold_in(key, i))) for i in range(-(-num_samples // b))]
  return np.concatenate(batches)[:num_samples]


# ---------------------------------------------------------------------------------------------

def _accelerator(machine):
  kind = machine.get('jax_device_kind', '')
  return '' if machine['jax_backend'] == 'cpu' or not kind else f': {kind}'


def markdown(report):
  m = report['machine']
  lines = [f'Machine: {m["cpu"]}, {m["cores"]} cores, {m["platform"]}; jax {m["jax"]} '
           f'({m["jax_backend"]}{_accelerator(m)}), torch {m["torch"]} '
           f'({m.get("torch_device", "cpu")}, {m["torch_threads"]} threads); '
           f'XLA_FLAGS={m["xla_flags"] or "(none)"}; {m["date"]}.', '',
           f'Command: `{report["command"]}`', '',
           "Train steps per second at each config's batch size (the GANs 64, the VAE 128, "
           "ProGAN its resolution's minibatch; "
           'median of interleaved rounds) and the median '
           'of the per-round ratios to PyTorch eager; compile/warm-up time apart.', '',
           '| model | variant | steps/s | x torch eager | compile/warm-up s |',
           '|---|---|---:|---:|---:|']
  for res in report['speed']:
    for name, v in res['variants'].items():
      if 'error' in v:
        lines.append(f'| {res["model"]} | {name} | failed: {v["error"][:120]} | | |')
        continue
      ratio = v.get('median_ratio_to_torch_eager')
      lines.append(f'| {res["model"]} | {name} | {v["median_steps_per_s"]:.1f} | '
                   f'{"" if ratio is None else f"{ratio:.2f}x"} | {v["compile_s"]:.1f} |')
  for res in report['speed'] + report.get('end_to_end', []):
    if 'remeasured' in res:
      again = res['remeasured']
      load, threads = again.get('load_average_at_start'), again.get('torch_threads')
      notes = ([f'load average {load[0]:.1f} at the start'] if load else []) + (
          [f'torch threads {threads}'] if threads else [])
      lines += ['', f'{res["model"]}: re-measured on {again["date"]} with `{again["command"]}`' +
                (f' ({", ".join(notes)}).' if notes else '.')]
  if report.get('end_to_end'):
    lines += ['', 'End to end, same number of steps on the offline digits (jaxgan: `launch.py` '
              'in a fresh process, compilation, checkpoint and sample grid included, first with '
              'an empty compilation cache (cold), then again in a fresh workdir with the cache '
              'the first run filled (warm); PyTorch: the original loop with a shuffling '
              'DataLoader; medians over interleaved rounds of the three, and of the per-round '
              'ratios):', '',
              '| model | steps | rounds | jaxgan wall s, cold / warm cache | PyTorch wall s | speed-up, cold / warm | jaxgan FD-digits | PyTorch FD-digits |',
              '|---|---:|---:|---:|---:|---:|---:|---:|']
    for e in report['end_to_end']:
      if 'skipped' in e:
        lines.append(f'| {e["model"]} | | | skipped: {e["skipped"]} | | | | |')
        continue
      if 'jax_error' in e:
        lines.append(f'| {e["model"]} | {e["steps"]} | | failed | | | | |')
        continue
      fd = lambda x: '' if x is None else f'{x:.2f}'
      if 'jax_warm_wall_s' in e:
        walls = f'{e["jax_cold_wall_s"]:.1f} / {e["jax_warm_wall_s"]:.1f}'
        speedups = f'{e["speedup"]:.2f}x / {e["speedup_warm"]:.2f}x'
      else:   # rows measured before the cold/warm split: the cache state was not controlled
        walls, speedups = f'{e["jax_wall_s"]:.1f} (cache not controlled)', f'{e["speedup"]:.2f}x'
      lines.append(f'| {e["model"]} | {e["steps"]} | {e.get("rounds", 1)} | {walls} | '
                   f'{e["torch_wall_s"]:.1f} | '
                   f'{speedups} | {fd(e["jax_fd_digits"])} | {fd(e["torch_fd_digits"])} |')
  for e in report.get('epochs', []):
    if 'error' in e:
      lines += ['', f'{e["model"]}, {e["epochs"]} epochs: launch.py failed.']
      continue
    lines += ['', f'{e["model"]}: {e["epochs"]} epochs of {e["images_per_epoch"]:,} images '
              f'(batch {e["batch_size"]}, {e["steps"]:,} steps) with `launch.py` in a fresh '
              f'process: {e["wall_s"]:.1f} s including start-up and compilation '
              f'({e["steps_per_s"]:,.0f} steps/s).']
  return '\n'.join(lines) + '\n'


def _updated(path, new):
  """The report at `path` with `new`'s models replaced (speed rows and end-to-end rows); each
  replaced model records the command and date that re-measured it."""
  with open(path) as f:
    old = json.load(f)
  # The load matters on a shared machine: other processes' threads slow PyTorch's OpenMP
  # pool far more than XLA's, so a ratio measured under load favours jaxgan.
  stamp = {'command': new['command'], 'date': new['machine']['date'],
           'load_average_at_start': new['machine'].get('load_average_at_start'),
           'torch_threads': new['machine'].get('torch_threads')}
  for section in ('speed', 'end_to_end', 'epochs'):
    fresh = {r['model']: dict(r, remeasured=stamp) for r in new.get(section, [])}
    rows = [fresh.pop(r['model'], r) for r in old.get(section, [])]
    old[section] = rows + list(fresh.values())
  return old


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--models', default=','.join(MODELS), help='comma-separated, from: ' + ', '.join(MODELS))
  p.add_argument('--repeats', type=int, default=5, help='interleaved rounds')
  p.add_argument('--default_steps', type=int, default=20, help='steps per variant per round')
  p.add_argument('--steps', default='gan=200,bn_gan=60,dcgan28=40,dcgan64=6,wgan=10,wgan_gp=8,'
                 'vae=200,progan8=10,progan16=4,progan32=2',
                 help='per-model steps per round, e.g. gan=200,dcgan64=6')
  p.add_argument('--per_dispatch', default='1,20',
                 help='jaxgan steps per dispatch to time besides the loop default')
  p.add_argument('--scan_models', default='gan',
                 help='models timed with several steps per dispatch too (on XLA:CPU a rolled '
                      'scan over conv steps runs about 10x slower: minutes per round, no news)')
  p.add_argument('--no_torch_compile', dest='torch_compile', action='store_false')
  p.add_argument('--ablation_models', default='',
                 help='models also timed with pieces of the loop taken away (the guard; the '
                      'data slicing; both), to cost each, e.g. gan,dcgan28')
  p.add_argument('--e2e_steps', type=int, default=0, help='also run the end-to-end comparison')
  p.add_argument('--e2e_models', default='gan,dcgan28')
  p.add_argument('--e2e_samples', type=int, default=2000)
  p.add_argument('--e2e_rounds', type=int, default=3, help='interleaved end-to-end rounds')
  p.add_argument('--epochs', type=int, default=0,
                 help='also time launch.py for this many epochs of the MLP GAN (target on an '
                      'H100: 100 epochs in under 60 s)')
  p.add_argument('--epoch_images', type=int, default=60_000, help="images per epoch (MNIST's)")
  p.add_argument('--epoch_model', default='gan')
  p.add_argument('--torch_device', default='',
                 help='"cpu" or "cuda" ("" = cuda when JAX runs on a GPU and torch sees one)')
  p.add_argument('--torch_threads', type=int, default=0,
                 help="torch.set_num_threads (0: PyTorch's default, one per core). On a loaded "
                      "shared machine, 1 keeps PyTorch's OpenMP threads from spinning against "
                      'other processes (measured: a ProGAN step 15.7 s with 2, 0.65 s with 1)')
  p.add_argument('--data_dir', default='', help='TFDS data dir ("" = a fresh temporary one)')
  p.add_argument('--out', default='',
                 help='writes OUT.json and OUT.md (default benchmarks/results/speed on CPU, '
                      'speed_<backend> elsewhere, so each machine keeps its own table)')
  p.add_argument('--update', action='store_true',
                 help='replace only these models\' rows in an existing OUT.json (noted in the table)')
  args = p.parse_args(argv)
  args.models = [m for m in args.models.split(',') if m]
  for m in args.models:
    if m not in MODELS:
      p.error(f'unknown model {m!r}; choose from {", ".join(MODELS)}')
  args.steps = {k: int(v) for k, v in (item.split('=') for item in args.steps.split(',') if item)}
  args.per_dispatch = [int(k) for k in args.per_dispatch.split(',') if k]
  args.scan_models = [m for m in args.scan_models.split(',') if m]
  args.ablation_models = [m for m in args.ablation_models.split(',') if m]
  args.e2e_models = [m for m in args.e2e_models.split(',') if m]
  if args.epoch_model not in MODELS:
    p.error(f'unknown --epoch_model {args.epoch_model!r}; choose from {", ".join(MODELS)}')
  if args.torch_device not in ('', 'cpu', 'cuda'):
    p.error(f'--torch_device must be cpu or cuda, not {args.torch_device!r}')
  backend = jax.default_backend()
  args.out = args.out or os.path.join(RESULTS, 'speed' if backend == 'cpu' else f'speed_{backend}')
  return args


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  args = parse_args(argv)
  args.torch_device = args.torch_device or default_torch_device()
  if args.torch_threads:
    import torch
    torch.set_num_threads(args.torch_threads)

  def log(msg):
    print(msg, file=sys.stderr, flush=True)

  data_dir = args.data_dir or tempfile.mkdtemp(prefix='jaxgan_speed_tfds_')
  from jaxgan.data.offline_mnist import OfflineMnist
  OfflineMnist(data_dir=data_dir, file_format='array_record').download_and_prepare()
  report = {'machine': dict(machine_info(), torch_device=args.torch_device),
            'command': 'python benchmarks/speed.py ' + shlex.join(argv), 'speed': [], 'end_to_end': []}
  for name in args.models:
    log(f'{name}:')
    report['speed'].append(bench_model(MODELS[name], data_dir, args, log))
  if args.e2e_steps:
    for name in args.e2e_models:
      if MODELS[name].family != 'adversarial':
        reason = (f'{MODELS[name].family} model: the end-to-end comparison samples a GAN '
                  'generator and scores FD-digits')
        log(f'  e2e {name}: skipped ({reason})')
        report['end_to_end'].append({'model': name, 'steps': args.e2e_steps, 'skipped': reason})
        continue
      report['end_to_end'].append(end_to_end(MODELS[name], data_dir, args.e2e_steps,
                                             args.e2e_samples, log, args.torch_device,
                                             args.e2e_rounds))
  if args.epochs:
    report['epochs'] = [epochs_run(MODELS[args.epoch_model], data_dir, args.epochs,
                                   args.epoch_images, log)]
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  if args.update and os.path.exists(args.out + '.json'):
    report = _updated(args.out + '.json', report)
  with open(args.out + '.json', 'w') as f:
    json.dump(report, f, indent=2)
  with open(args.out + '.md', 'w') as f:
    f.write(markdown(report))
  print(markdown(report))


if __name__ == '__main__':
  main()
