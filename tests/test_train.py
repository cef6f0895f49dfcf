"""End to end: what a run writes, exact resume after SIGKILL, and 1 vs 8 devices."""
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxgan import train
from tests.conftest import ROOT, config_overrides, read_checkpoint, tiny_dcgan


def read_tensorboard_scalars(directory):
  """Parses TensorBoard event files with tensorboardX's protobufs only (no TensorFlow)."""
  from tensorboardX.proto import event_pb2
  scalars, images = {}, 0
  for name in sorted(os.listdir(directory)):
    with open(os.path.join(directory, name), 'rb') as f:
      data = f.read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      record = data[offset + 12:offset + 12 + length]
      offset += 12 + length + 4
      event = event_pb2.Event()
      event.ParseFromString(record)
      for value in event.summary.value:
        if value.HasField('image'):
          images += 1
        else:
          scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars, images


def test_a_run_writes_the_contracted_workdir(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  train.run(tiny_dcgan(data_dir), workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'samples'))) == ['step_3.png', 'step_6.png']
  from PIL import Image
  grid = np.asarray(Image.open(os.path.join(workdir, 'samples', 'step_6.png')))
  assert grid.shape == (4 * 30 + 2, 4 * 30 + 2) and grid.std() > 1  # 16 digits, not blank
  records = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert [r['step'] for r in records] == [2, 4, 6]
  for record in records:
    assert {'d_loss', 'g_loss', 'd_real', 'd_fake', 'steps_per_sec'} <= set(record)
    assert all(np.isfinite(v) for v in record.values())
  config = json.load(open(os.path.join(workdir, 'config.json')))
  assert config['model']['generator'] == 'dcgan' and config['train']['num_steps'] == 6
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['3', '6']
  scalars, images = read_tensorboard_scalars(os.path.join(workdir, 'tensorboard'))
  assert [s for s, _ in scalars['g_loss']] == [2, 4, 6]
  assert {'d_loss', 'd_real', 'd_fake', 'steps_per_sec'} <= set(scalars)
  assert images == 2


def test_losses_move_and_samples_change_with_training(data_dir, tmp_path):
  config = tiny_dcgan(data_dir, num_steps=30, log_every_steps=1, sample_every_steps=15,
                      checkpoint_every_steps=0)
  metrics = train.run(config, str(tmp_path / 'run'))
  records = [json.loads(l) for l in open(tmp_path / 'run' / 'metrics.jsonl')]
  d_losses = [r['d_loss'] for r in records]
  assert len(records) == 30 and max(d_losses) - min(d_losses) > 0.05
  assert metrics['g_loss'] == records[-1]['g_loss']
  # The grids are drawn from the same fixed noise, so what changes is the generator.
  from PIL import Image
  grids = [np.asarray(Image.open(tmp_path / 'run' / 'samples' / f'step_{s}.png'), np.float32)
           for s in (15, 30)]
  assert grids[0].shape == grids[1].shape
  assert np.mean(np.abs(grids[0] - grids[1])) > 2.0   # grey levels of 255, averaged


def test_rerunning_a_finished_run_changes_nothing(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  config = tiny_dcgan(data_dir)
  train.run(config, workdir)
  before = read_checkpoint(os.path.join(workdir, 'checkpoints'), 6)
  assert train.run(config, workdir) is None  # nothing left to do
  after = read_checkpoint(os.path.join(workdir, 'checkpoints'), 6)
  assert all(np.array_equal(before[k], after[k]) for k in before)


def _launch_args(config, workdir):
  return ['--config=configs/dcgan.py', f'--workdir={workdir}'] + config_overrides(config)


def _check_startup_line(stdout):
  """launch.py's start-up line: a total, and its four parts (imports, build, state, first
  dispatch), each a non-negative time that together make the total."""
  (line,) = [l for l in stdout.splitlines() if l.startswith('first dispatch done ')]
  total = float(re.search(r'done ([0-9.]+) s after start', line).group(1))
  parts = [float(x) for x in re.findall(r'([0-9.]+) s (?:imports|building|initialising|compiling)',
                                         line)]
  assert len(parts) == 4 and all(p >= 0 for p in parts), line
  assert abs(sum(parts) - total) <= 0.25 and parts[0] > 0.1, line   # jax takes > 0.1 s to import


def test_sigkill_then_rerun_ends_bit_exact_with_an_uninterrupted_run(data_dir, tmp_path):
  config = tiny_dcgan(data_dir, num_steps=24, checkpoint_every_steps=4, sample_every_steps=12,
                      log_every_steps=4)
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  reference = tmp_path / 'reference'
  subprocess.run([sys.executable, 'launch.py'] + _launch_args(config, reference), cwd=ROOT,
                 env=env, check=True, capture_output=True)

  killed = tmp_path / 'killed'
  process = subprocess.Popen([sys.executable, 'launch.py'] + _launch_args(config, killed),
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not (killed / 'checkpoints' / '4').exists():
    assert process.poll() is None, 'the run ended before its first checkpoint'
    assert time.time() < deadline
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  steps = sorted(int(s) for s in os.listdir(killed / 'checkpoints') if s.isdigit())
  assert steps and steps[-1] < 24, 'killed too late to test resume'

  result = subprocess.run([sys.executable, 'launch.py'] + _launch_args(config, killed), cwd=ROOT,
                          env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'resumed from checkpoint at step' in result.stdout
  _check_startup_line(result.stdout)
  want = read_checkpoint(str(reference / 'checkpoints'), 24)
  got = read_checkpoint(str(killed / 'checkpoints'), 24)
  assert want.keys() == got.keys()
  for name in want:
    assert np.array_equal(want[name], got[name]), name
  records = [json.loads(l)['step'] for l in open(killed / 'metrics.jsonl')]
  assert records == sorted(set(records)) == [4, 8, 12, 16, 20, 24]


@pytest.mark.parametrize('experiment', ['dcgan', 'gan'])
def test_one_and_eight_devices_reach_the_same_parameters(data_dir, tmp_path, experiment):
  config = tiny_dcgan(data_dir, num_steps=4, checkpoint_every_steps=4, sample_every_steps=0,
                      log_every_steps=4)
  args = config_overrides(config)
  if experiment == 'gan':
    args += ['--config.model.generator=mlp', '--config.model.discriminator=mlp',
             '--config.model.g_hidden=(32, 64)', '--config.model.d_hidden=(64, 32)']
  runs = {}
  for devices in (1, 8):
    workdir = tmp_path / f'devices_{devices}'
    env = dict(os.environ, JAX_PLATFORMS='cpu',
               XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
    result = subprocess.run([sys.executable, 'launch.py', '--config=configs/dcgan.py',
                             f'--workdir={workdir}'] + args, cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'with {devices} device(s)' in result.stdout
    runs[devices] = read_checkpoint(str(workdir / 'checkpoints'), 4)
  # Sharded reductions sum in another order. Adam normalises its updates, so where a gradient
  # is near zero an ulp-level difference can flip its sign and move that weight by up to one
  # learning rate (2e-4) a step, and the batch-norm statistics follow the weights. So: almost
  # every element agrees tightly, and none is further apart than four such steps explain. A
  # different batch, noise key or per-device statistics would move most elements far more.
  assert runs[1].keys() == runs[8].keys()
  tight_counts, element_count = 0, 0
  for name, value in runs[1].items():
    if value.dtype.kind == 'f':
      difference = np.abs(runs[8][name] - value)
      tight_counts += int(np.sum(difference <= 2e-5 + 2e-4 * np.abs(value)))
      element_count += value.size
      assert difference.max() <= 4 * 2e-4, (name, difference.max())
    else:
      assert np.array_equal(runs[8][name], value), name
  assert tight_counts / element_count >= 0.98, tight_counts / element_count


def test_a_batch_that_does_not_divide_over_the_devices_is_rejected(data_dir, tmp_path):
  config = tiny_dcgan(data_dir)
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='--xla_force_host_platform_device_count=8')
  result = subprocess.run([sys.executable, 'launch.py', '--config=configs/dcgan.py',
                           f'--workdir={tmp_path / "run"}'] + config_overrides(config) +
                          ['--config.train.batch_size=12'], cwd=ROOT, env=env,
                          capture_output=True, text=True)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      'error: train.batch_size=12 does not divide over 8 devices; use a multiple of 8')


def test_a_second_run_loads_its_programs_from_the_compilation_cache(data_dir, tmp_path):
  config = tiny_dcgan(data_dir, num_steps=4, checkpoint_every_steps=4, sample_every_steps=4,
                      log_every_steps=4)
  cache = tmp_path / 'xla_cache'
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  runs = []
  for name, cache_flag in (('first', str(cache)), ('second', str(cache)), ('uncached', '')):
    workdir = tmp_path / name
    result = subprocess.run([sys.executable, 'launch.py'] + _launch_args(config, workdir) +
                            [f'--config.loop.compilation_cache={cache_flag}'], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    runs.append(read_checkpoint(str(workdir / 'checkpoints'), 4))
    if name == 'first':
      entries = sorted(os.listdir(cache))
      assert any(e.startswith('jit_train_chunk') for e in entries), entries
  assert sorted(os.listdir(cache)) == entries       # the second run compiled nothing new
  for run in runs[1:]:                              # and cached programs compute the same
    assert run.keys() == runs[0].keys()
    assert all(np.array_equal(run[k], runs[0][k]) for k in run)


def test_on_cpu_the_loop_scans_dense_steps_but_runs_convolutional_ones_one_per_dispatch(data_dir):
  """XLA:CPU runs a rolled scan over convolutional steps about 20x slower than single steps,
  and dense steps faster: the default follows the program (its trace), not the model's name."""
  from configs import gan
  mlp = gan.get_config()
  mlp.data.data_dir = data_dir
  mlp.model.g_hidden, mlp.model.d_hidden, mlp.train.batch_size = (16,), (16,), 16
  for config, expected in ((mlp, 20), (tiny_dcgan(data_dir), 1)):
    run = train.build(config)
    span = run.spans[0]
    state, guard = run.init_state(), run.initial_guard()
    assert run.steps_per_dispatch(span, state, guard) == expected
    chunk = run.chunk(span)
    state, guard, metrics = chunk(state, guard, run.batches.device_data, expected)
    assert int(state.step) == expected and chunk.compilations == 1
    config.loop.steps_per_dispatch = 3      # a setting wins over the default
    assert train.build(config).steps_per_dispatch(span, state, guard) == 3


def test_the_convolution_finder_looks_inside_nested_programs():
  import jax
  import jax.numpy as jnp

  def conv(x):
    return jax.lax.conv_general_dilated(x, jnp.ones((1, 1, 3, 3)), (1, 1), 'SAME')

  def scanned(x):
    return jax.lax.scan(lambda c, _: (conv(c), None), x, None, length=2)[0]

  def branched(x):
    return jax.lax.cond(x.sum() > 0, conv, lambda y: y, x)
  x = jnp.ones((1, 1, 4, 4))
  for fn in (conv, scanned, branched, jax.grad(lambda x: scanned(x).sum())):
    assert train._has_primitive(jax.make_jaxpr(fn)(x).jaxpr, ('conv_general_dilated',)), fn
  assert not train._has_primitive(jax.make_jaxpr(lambda x: jnp.tanh(x) @ x)(x[0, 0]).jaxpr,
                                  ('conv_general_dilated',))
