"""The loop's phase protocol (jaxgan/train.py, jaxgan/trainers): spans, enter_phase at the
boundary, and SIGKILL before, at and after a boundary resuming bit-exact."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxgan import train
from jaxgan.trainers import Phase
from tests import phased_trainer
from tests.conftest import ROOT, read_checkpoint

NUM_STEPS = 8


def test_spans_cover_the_steps_and_count_batches_across_phases():
  spans = train.phase_spans([Phase('a', 4, 1), Phase('b', 3, 2), Phase('c', None, 5)])
  assert [(s.start, s.first_batch) for s in spans] == [(0, 0), (4, 4), (7, 10)]
  assert spans[1].first_batch_of(6) == 4 + 2 * 2 and spans[2].first_batch_of(9) == 20
  assert [train.span_of_step(spans, s).phase.name for s in (0, 3, 4, 6, 7, 10**6)] == \
      ['a', 'a', 'b', 'b', 'c', 'c']
  # A state after s steps belongs to the phase that ran step s - 1.
  assert [train.span_of_state(spans, s).phase.name for s in (0, 4, 5, 7, 8)] == \
      ['a', 'a', 'b', 'b', 'c']
  with pytest.raises(ValueError, match="phase 'a' needs a positive num_steps"):
    train.phase_spans([Phase('a', None, 1), Phase('b', None, 1)])


def _command(data_dir, workdir):
  code = ('import sys; import tests.phased_trainer; import launch; '
          'sys.exit(launch.main(sys.argv[1:]))')
  return [sys.executable, '-c', code, '--config=configs/vae.py', f'--workdir={workdir}',
          '--config.trainer=test_two_phase', f'--config.data.data_dir={data_dir}',
          '--config.train.batch_size=8', f'--config.train.num_steps={NUM_STEPS}',
          '--config.train.checkpoint_every_steps=1', '--config.train.keep_checkpoints=20',
          '--config.train.log_every_steps=1', '--config.train.sample_every_steps=4',
          '--config.train.progress_bar=no']


def _env(sleep):
  return dict(os.environ, JAX_PLATFORMS='cpu', JAXGAN_TEST_STEP_SLEEP=str(sleep))


def _steps(directory):
  return sorted(int(s) for s in os.listdir(directory) if s.isdigit()) if os.path.isdir(directory) else []


def test_a_two_phase_run_grows_its_state_at_the_boundary(data_dir, tmp_path):
  workdir = tmp_path / 'run'
  result = subprocess.run(_command(data_dir, workdir), cwd=ROOT, env=_env(0), capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'step 4: phase large' in result.stdout
  ckpt = str(workdir / 'checkpoints')
  assert read_checkpoint(ckpt, 4)["['w']"].shape == (3,)      # the state after 4 steps: phase 0
  assert read_checkpoint(ckpt, 5)["['w']"].shape == (5,)
  records = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
  assert [r['batches'] for r in records] == [1] * 4 + [2] * 4
  assert sorted(os.listdir(workdir / 'samples')) == ['step_4.png', 'step_8.png']


@pytest.fixture(scope='module')
def reference(data_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('phases') / 'reference'
  result = subprocess.run(_command(data_dir, workdir), cwd=ROOT, env=_env(0), capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  return read_checkpoint(str(workdir / 'checkpoints'), NUM_STEPS)


@pytest.mark.parametrize('kill_after', [phased_trainer.BOUNDARY - 1, phased_trainer.BOUNDARY,
                                        phased_trainer.BOUNDARY + 1])
def test_sigkill_around_a_phase_boundary_resumes_bit_exact(data_dir, tmp_path, reference,
                                                           kill_after):
  workdir = tmp_path / 'killed'
  ckpt = str(workdir / 'checkpoints')
  process = subprocess.Popen(_command(data_dir, workdir), cwd=ROOT, env=_env(0.6),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while kill_after not in _steps(ckpt):
    assert process.poll() is None, 'the run ended before the checkpoint to kill at'
    assert time.time() < deadline
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert _steps(ckpt)[-1] == kill_after, _steps(ckpt)
  result = subprocess.run(_command(data_dir, workdir), cwd=ROOT, env=_env(0), capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'resumed from checkpoint at step {kill_after}' in result.stdout
  got = read_checkpoint(ckpt, NUM_STEPS)
  assert got.keys() == reference.keys()
  for name in reference:
    assert np.array_equal(got[name], reference[name]), name
