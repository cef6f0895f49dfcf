"""Faults of the machine, not the user: a full disk, a read-only or vanished workdir, memory
exhausted. Each is injected into a tiny MLP GAN run (a real small filesystem where this machine
lets us mount one, else a writer patched to fail at a chosen write) and must end in exit
status 2 with exactly one line on stderr, the checkpoints already committed left as they were,
and, once the fault is cleared, a resume that ends exactly where an uninterrupted run does.
"""
import errno
import glob
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from tests.conftest import launch, read_checkpoint
from tests.test_reliability import _tiny_mlp_args

STEPS = 8
FIELDS = {'train.num_steps': STEPS, 'train.keep_checkpoints': 10, 'train.grid_size': 1}


def _args(data_dir, workdir, **fields):
  return _tiny_mlp_args(data_dir, str(workdir), **{**FIELDS, **fields})


def _config(data_dir, **fields):
  from jaxgan import config as config_lib
  from tests.conftest import ROOT
  config = config_lib.load_config_file(os.path.join(ROOT, 'configs', 'gan.py'))
  config_lib.apply_overrides(config, [a[len('--config.'):] for a in _args(data_dir, 'x', **fields)
                                      if a.startswith('--config.')])
  return config


def _committed(workdir):
  directory = os.path.join(str(workdir), 'checkpoints')
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit()) if os.path.isdir(directory) else []


def _snapshot(workdir, steps):
  """Every byte of the given checkpoint folders."""
  files = {}
  for step in steps:
    root = os.path.join(str(workdir), 'checkpoints', str(step))
    for folder, _, names in os.walk(root):
      for name in names:
        with open(os.path.join(folder, name), 'rb') as f:
          files[os.path.relpath(os.path.join(folder, name), str(workdir))] = f.read()
  return files


def _same_arrays(a, b):
  assert a.keys() == b.keys()
  for name in a:
    assert np.array_equal(a[name], b[name]), name


def _one_error_line(err):
  lines = [line for line in err.strip().splitlines() if line.strip()]
  assert len(lines) == 1, lines[:20]
  assert lines[0].startswith('error: '), lines[0]
  assert 'Traceback' not in err
  return lines[0]


@pytest.fixture(scope='module')
def reference(data_dir, tmp_path_factory):
  """An uninterrupted run: its checkpoints at every even step, its logged steps."""
  from jaxgan import train
  workdir = tmp_path_factory.mktemp('reference') / 'run'
  train.run(_config(data_dir), str(workdir))
  checkpoint_dir = os.path.join(str(workdir), 'checkpoints')
  return {step: read_checkpoint(checkpoint_dir, step) for step in _committed(workdir)}


def _resume_and_check(data_dir, workdir, reference):
  """Re-runs after the fault is cleared: ends bit-exact, every step logged once, no partial
  checkpoint left."""
  from jaxgan import train
  train.run(_config(data_dir), str(workdir))
  _same_arrays(read_checkpoint(os.path.join(str(workdir), 'checkpoints'), STEPS), reference[STEPS])
  assert not glob.glob(os.path.join(str(workdir), 'checkpoints', '*tmp*'))
  logged = [json.loads(line)['step'] for line in open(os.path.join(str(workdir), 'metrics.jsonl'))]
  assert logged == list(range(1, STEPS + 1))


# -- a real small filesystem (tmpfs) ----------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path):
  """Mounts a fresh tmpfs; yields (path, remount(options)). Skipped where mounting is not
  permitted (not root, or no CAP_SYS_ADMIN in this container)."""
  path = tmp_path / 'disk'
  path.mkdir()
  try:
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', str(path)],
                            capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired) as e:
    pytest.skip(f'cannot mount a tmpfs here ({e}); the injected-fault tests below still run')
  if result.returncode != 0:
    pytest.skip(f'cannot mount a tmpfs here ({result.stderr.strip() or result.returncode}); '
                'the injected-fault tests below still run')

  def remount(options):
    subprocess.run(['mount', '-o', f'remount,{options}', str(path)], check=True, timeout=30)
  try:
    yield path, remount
  finally:
    subprocess.run(['umount', '-l', str(path)], capture_output=True, timeout=30)


def _fill(path, leave_bytes):
  """Fills the filesystem of `path` until `leave_bytes` are free; returns the filler file."""
  filler = os.path.join(str(path), f'filler_{len(os.listdir(str(path)))}')
  stat = os.statvfs(str(path))
  size = max(stat.f_bavail * stat.f_frsize - leave_bytes, 0)
  with open(filler, 'wb') as f:
    chunk = b'\0' * (1 << 20)
    while size > 0:
      size -= f.write(chunk[:min(size, len(chunk))])
  return filler


def test_a_disk_filling_up_during_a_checkpoint_save_is_one_line_exit_2_and_resumes_exactly(
    data_dir, reference, tmpfs, capfd):
  from jaxgan import train
  disk, _ = tmpfs
  workdir = disk / 'run'
  train.run(_config(data_dir, **{'train.num_steps': 4}), str(workdir))   # checkpoints 2, 4
  before = _snapshot(workdir, [2, 4])
  filler = _fill(disk, 64 * 1024)   # room for a few log lines, not for a checkpoint (~400 KB)
  result = launch(_args(data_dir, workdir), timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  line = _one_error_line(result.stderr)
  assert line.startswith('error: no space left on device writing '), line
  assert f'in {os.path.abspath(str(workdir))} (' in line and 'free' in line, line
  assert 'the latest: step 4' in line and 'resume from step 4' in line, line
  assert 'done:' not in result.stdout
  assert _committed(workdir) == [2, 4]
  assert _snapshot(workdir, [2, 4]) == before       # committed checkpoints untouched
  # Not a byte left: the run stops at its first write, before anything compiles.
  import launch as launch_module
  more = _fill(disk, 0)
  capfd.readouterr()
  assert launch_module.main(_args(data_dir, workdir)) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line.startswith(f"error: no space left on device for workdir '{workdir}' (0.0 MB "
                         'free); free space there'), line
  os.remove(more)
  os.remove(filler)                                 # space is back
  _resume_and_check(data_dir, workdir, reference)


def test_a_full_disk_while_preparing_the_dataset_leaves_nothing_half_built(tmpfs, tmp_path,
                                                                           capfd):
  import launch as launch_module
  from jaxgan.data.offline_mnist import OfflineMnist
  disk, remount = tmpfs
  remount('size=1m')   # the prepared digits take about 2 MB
  assert launch_module.main(_tiny_mlp_args(str(disk), str(tmp_path / 'run'))) == 2
  err = capfd.readouterr().err
  assert 'Traceback' not in err
  errors = [line for line in err.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err[-2000:]
  assert errors[0].startswith("error: no space left on device preparing dataset 'offline_mnist' "
                              f'in {disk}: it needs more than the '), errors[0]
  assert not glob.glob(os.path.join(str(disk), 'offline_mnist', '*', '*.array_record*'))
  assert not glob.glob(os.path.join(str(disk), 'offline_mnist', 'incomplete.*'))
  assert not OfflineMnist(data_dir=str(disk), file_format='array_record').is_prepared()
  remount('size=16m')  # space is back: the next run prepares it whole
  from jaxgan.data.images import load_dataset
  config = _config(str(disk))
  dataset = load_dataset(config.data)
  assert dataset.num_records('train') == 4500 and dataset.num_records('test') == 500
  images, _ = dataset.arrays('test')
  assert images.shape == (500, 28, 28, 1) and images.std() > 10


# -- injected faults, in process --------------------------------------------------------------

class _FailingFile:
  """An open file whose n-th write raises OSError(code) the way a full or read-only disk does
  (from the write, with no file name)."""

  def __init__(self, file, counter, fail_at, code):
    self._file, self._counter, self._fail_at, self._code = file, counter, fail_at, code

  def write(self, data):
    self._counter[0] += 1
    if self._counter[0] == self._fail_at:
      raise OSError(self._code, os.strerror(self._code))
    return self._file.write(data)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._file.close()

  def __getattr__(self, name):
    return getattr(self._file, name)


def _fail_nth_write(monkeypatch, basename_prefix, fail_at, code):
  """Makes the `fail_at`-th write to reporting.py's file named basename_prefix* fail."""
  from jaxgan import reporting
  counter = [0]

  def patched_open(path, mode='r', *args, **kwargs):
    file = open(path, mode, *args, **kwargs)
    if os.path.basename(str(path)).startswith(basename_prefix) and mode[0] in 'wa':
      return _FailingFile(file, counter, fail_at, code)
    return file
  monkeypatch.setattr(reporting, 'open', patched_open, raising=False)


FILE_FAULTS = {
    # what fails: (file, at which write, errno, the start of the line)
    'disk full writing metrics.jsonl': (
        'metrics.jsonl', 5, errno.ENOSPC, 'no space left on device writing metrics.jsonl in '),
    'disk full writing TensorBoard events': (
        'events.out.tfevents', 2 + 5 * 4 + 1, errno.ENOSPC,
        'no space left on device writing TensorBoard events in '),
    'workdir read-only writing metrics.jsonl': (
        'metrics.jsonl', 5, errno.EROFS, 'the workdir {workdir} is on a read-only file system '
        '(writing metrics.jsonl); '),
}


@pytest.mark.parametrize('fault', list(FILE_FAULTS))
def test_a_write_failing_for_lack_of_space_or_a_read_only_disk_is_one_line_and_resumes_exactly(
    data_dir, reference, tmp_path, monkeypatch, capfd, fault):
  import launch as launch_module
  filename, fail_at, code, start = FILE_FAULTS[fault]
  workdir = tmp_path / 'run'
  capfd.readouterr()
  with monkeypatch.context() as patch:
    _fail_nth_write(patch, filename, fail_at, code)
    assert launch_module.main(_args(data_dir, workdir)) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line.startswith('error: ' + start.format(workdir=os.path.abspath(str(workdir)))), line
  assert 'the latest: step 4' in line and 'resume from step 4' in line, line
  assert _committed(workdir) == [2, 4]       # the fifth step's record failed; nothing after it
  for step in (2, 4):
    _same_arrays(read_checkpoint(str(workdir / 'checkpoints'), step), reference[step])
  _resume_and_check(data_dir, workdir, reference)


def test_a_read_only_disk_at_a_sample_write_is_one_line_and_resumes_exactly(
    data_dir, reference, tmp_path, monkeypatch, capfd):
  import builtins
  import launch as launch_module
  workdir = tmp_path / 'run'
  real_open = builtins.open

  def read_only_samples(path, mode='r', *args, **kwargs):
    if f'{os.sep}samples{os.sep}' in str(path) and mode[0] in 'wa':
      raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    return real_open(path, mode, *args, **kwargs)
  capfd.readouterr()
  with monkeypatch.context() as patch:
    patch.setattr(builtins, 'open', read_only_samples)   # PIL opens the PNG with builtins.open
    assert launch_module.main(_args(data_dir, workdir, **{'train.sample_every_steps': 3})) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line.startswith(f'error: the workdir {os.path.abspath(str(workdir))} is on a read-only '
                         'file system (writing a sample image); the checkpoints saved so far '
                         'are kept (the latest: step 2): make it writable again, then re-run '
                         'the same command to resume from step 2'), line
  assert _committed(workdir) == [2]
  _same_arrays(read_checkpoint(str(workdir / 'checkpoints'), 2), reference[2])
  _resume_and_check(data_dir, workdir, reference)


def test_the_workdir_removed_mid_run_is_one_line_and_a_rerun_starts_afresh_exactly(
    data_dir, reference, tmp_path, monkeypatch, capfd):
  import launch as launch_module
  from jaxgan.checkpointing import Checkpoints
  workdir = tmp_path / 'run'
  real_save = Checkpoints.save

  def save_then_remove_the_workdir(self, step, state, loop_info=None):
    saved = real_save(self, step, state, loop_info)
    if step == 4:
      self.wait()
      shutil.rmtree(str(workdir))
    return saved
  capfd.readouterr()
  with monkeypatch.context() as patch:
    patch.setattr(Checkpoints, 'save', save_then_remove_the_workdir)
    assert launch_module.main(_args(data_dir, workdir)) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line == (f'error: the workdir {os.path.abspath(str(workdir))} was removed during the '
                  'run, and its checkpoints with it: re-run the same command to start afresh'), line
  assert not workdir.exists()   # not silently made again by a later write
  _resume_and_check(data_dir, workdir, reference)


def test_a_missing_file_inside_an_intact_workdir_is_not_taken_for_a_fault(tmp_path):
  """ENOENT is a fault of the machine only when the workdir or its checkpoints went away;
  otherwise it is a bug and keeps its traceback."""
  from jaxgan import faults
  (tmp_path / 'checkpoints').mkdir()
  error = FileNotFoundError(errno.ENOENT, 'No such file or directory', str(tmp_path / 'nope'))
  assert faults.resource_error(error, str(tmp_path)) is None
  assert faults.resource_error(ValueError('a plain bug'), str(tmp_path)) is None


def test_the_stacks_own_fault_texts_are_recognised():
  """The texts measured on this stack: TensorStore's failed write under Orbax, XLA:CPU's failed
  allocation (issue 19), XLA:GPU's."""
  import jax
  from jaxgan.errors import disk_fault, memory_fault
  tensorstore = ValueError(
      'RESOURCE_EXHAUSTED: Error writing local file "/w/checkpoints/4.orbax-checkpoint-tmp/'
      'default.orbax-checkpoint-tmp/_sharding": Failed writing: "/w/checkpoints/4.orbax-'
      'checkpoint-tmp/default.orbax-checkpoint-tmp/_sharding.__lock": Failed to write 10198 '
      "bytes to file 8: No space left on device [os_error_code='28']")
  assert disk_fault(tensorstore) == (
      errno.ENOSPC, '/w/checkpoints/4.orbax-checkpoint-tmp/default.orbax-checkpoint-tmp/_sharding')
  assert disk_fault(RuntimeError('Failed to finalize writing of split "train": write() failed: '
                                 'No space left on device; writing /d/x.array_record'))[0] == errno.ENOSPC
  chained = RuntimeError('Event loop is closed')
  chained.__context__ = OSError(errno.EROFS, 'Read-only file system', '/w/metrics.jsonl')
  assert disk_fault(chained) == (errno.EROFS, '/w/metrics.jsonl')
  cpu = jax.errors.JaxRuntimeError(
      'INTERNAL: Error dispatching computation: Error dispatching computation: Out of memory '
      'allocating 52008140676 bytes.')
  assert memory_fault(cpu) == (52008140676,)
  gpu = jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to allocate '
                                   '17179869184 bytes.')
  assert memory_fault(gpu) == (17179869184,)
  assert memory_fault(tensorstore) is None and memory_fault(ValueError('Out of memory')) is None
  assert disk_fault(gpu) is None


# -- memory ---------------------------------------------------------------------------------------

def test_a_program_over_the_stated_memory_limit_stops_before_the_first_step(
    data_dir, tmp_path, capfd):
  import launch as launch_module
  workdir = tmp_path / 'run'
  capfd.readouterr()
  assert launch_module.main(_args(data_dir, workdir, **{'train.memory_limit_mb': 1})) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line.startswith("error: out of memory: the training step of phase 'train' needs "), line
  assert 'more than the limit train.memory_limit_mb=1 (1.0 MB); stopped before it ran: ' in line
  assert "lower train.batch_size or the model's widths" in line
  assert 'data.in_memory=no' in line   # the digits on the device are most of it here
  figures = [float(x) for x in __import__('re').findall(r'([\d.]+) MB', line)]
  assert figures[0] > 1.0, line
  assert _committed(workdir) == []
  assert open(workdir / 'metrics.jsonl').read() == ''   # not one step ran
  # The field is validated like any other.
  assert launch_module.main(_args(data_dir, workdir, **{'train.memory_limit_mb': -1})) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert 'train.memory_limit_mb must be >= 0' in line, line


def test_an_allocation_failing_during_the_run_is_one_line(data_dir, reference, tmp_path,
                                                          monkeypatch, capfd):
  import jax
  import launch as launch_module
  from jaxgan import parallel
  workdir = tmp_path / 'run'
  real_fetch, calls = parallel.fetch, [0]

  def fetch_then_run_out(tree):
    calls[0] += 1
    if calls[0] == 9:   # two fetches a logged step: this is step 5's
      raise jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to '
                                       'allocate 123456789 bytes.')
    return real_fetch(tree)
  capfd.readouterr()
  with monkeypatch.context() as patch:
    patch.setattr(parallel, 'fetch', fetch_then_run_out)
    assert launch_module.main(_args(data_dir, workdir)) == 2
  line = _one_error_line(capfd.readouterr().err)
  assert line.startswith('error: out of memory on cpu: allocating 117.7 MB failed, '), line
  assert ("lower train.batch_size or the model's widths (model.*), or run fewer steps per "
          'dispatch (loop.steps_per_dispatch); the checkpoints saved so far are kept (the '
          'latest: step 4)') in line, line
  assert _committed(workdir) == [2, 4]
  _same_arrays(read_checkpoint(str(workdir / 'checkpoints'), 4), reference[4])


def test_each_program_is_compiled_once_and_its_executable_is_the_one_that_runs(data_dir):
  """The memory check costs no compilation: lower().compile() once per program (and per
  static step count), then that executable runs; jit's own cache stays empty."""
  from jaxgan import train
  run = train.build(_config(data_dir))
  chunk = run.chunk(run.spans[0])
  state, guard = run.init_state(), run.initial_guard()
  for num_steps in (1, 1, 2, 1, 2):
    state, guard, _ = chunk(state, guard, run.batches.device_data, num_steps)
  assert chunk.compilations == 2           # one per static step count
  assert chunk.jitted._cache_size() == 0   # jit never compiled it a second time
  assert int(state.step) == 7
