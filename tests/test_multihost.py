"""Multi-host on one machine: two local CPU processes (127.0.0.1) joined by jax.distributed.

Each process owns one CPU device; the global batch is split between them (streamed: each reads
its own share; in memory: each holds the whole dataset and the compiled step slices it). The
result must equal, bit for bit, one process driving two devices with the same global batch;
checkpoints are written and restored by both processes together, and only process 0 writes
metrics, samples and config.json.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks import kill_fuzz
from tests.conftest import ROOT
from tests.test_reliability import shared_data_and_cache


@pytest.fixture(scope='module')
def data_and_cache(tmp_path_factory):
  return shared_data_and_cache(tmp_path_factory)


def _args(data_dir, workdir, steps, in_memory):
  return ['--config=configs/gan.py', f'--workdir={workdir}', f"--config.data.data_dir='{data_dir}'",
          '--config.model.g_hidden=(32,)', '--config.model.d_hidden=(32,)',
          '--config.model.latent_dim=16', '--config.train.batch_size=16',
          f'--config.train.num_steps={steps}', '--config.train.log_every_steps=2',
          '--config.train.checkpoint_every_steps=2', f'--config.train.sample_every_steps={max(2, steps // 2)}',
          "--config.train.progress_bar='no'", f"--config.data.in_memory='{in_memory}'"]


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _run_two_processes(args, cache_dir, signal_process_0_after_step=None):
  """Runs launch.py as processes 0 and 1; optionally SIGTERMs process 0 alone once it has
  logged a step past the given one. Returns both stdouts."""
  env = kill_fuzz.subprocess_env(cache_dir)
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  launches = [kill_fuzz._Launch(
      args + [f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2', f'--process_id={i}'],
      env) for i in range(2)]
  try:
    deadline = time.time() + 420
    if signal_process_0_after_step is not None:
      while (launches[0].process.poll() is None and time.time() < deadline and
             kill_fuzz._last_logged(launches[0].stdout()) <= signal_process_0_after_step):
        time.sleep(0.005)
      launches[0].process.send_signal(signal.SIGTERM)
    for launch in launches:
      launch.process.wait(timeout=max(1, deadline - time.time()))
    outs = [(launch.stdout(), launch.stderr()) for launch in launches]
  finally:
    for launch in launches:
      if launch.process.poll() is None:
        launch.kill()
      launch.close()
  for launch, (_, err) in zip(launches, outs):
    assert launch.process.returncode == 0, '\n'.join(e[-2000:] for _, e in outs)
  return [out for out, _ in outs]


def _run_one_process(args, cache_dir):
  env = dict(kill_fuzz.subprocess_env(cache_dir),
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  result = subprocess.run([sys.executable, 'launch.py'] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=420)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'with 2 device(s) in 1 process(es)' in result.stdout
  return result.stdout


@pytest.mark.parametrize('in_memory', ['yes', 'no'])
def test_two_processes_equal_one_process_with_the_same_global_batch(data_and_cache, tmp_path,
                                                                    in_memory):
  """Streamed, also preempted: SIGTERM to process 0 alone stops both processes at the same
  step with a checkpoint they write together; the re-run restores it in both and goes on."""
  data_dir, cache_dir = data_and_cache
  two, one = tmp_path / 'two_processes', tmp_path / 'one_process'
  steps = 4 if in_memory == 'yes' else 24
  if in_memory == 'no':
    outs = _run_two_processes(_args(data_dir, two, steps, in_memory), cache_dir,
                              signal_process_0_after_step=2)
    stopped = re.search(r'stopped at step (\d+) on request; checkpoint saved', outs[0])
    assert stopped, outs[0][-2000:]
    resumed_at = int(stopped.group(1))
    assert resumed_at < steps, 'the run ended before the signal; nothing was tested'
    assert resumed_at in kill_fuzz.committed_steps(str(two / 'checkpoints'))
  outs = _run_two_processes(_args(data_dir, two, steps, in_memory), cache_dir)
  if in_memory == 'no':
    assert f'resumed from checkpoint at step {resumed_at}' in outs[0]
  assert 'with 2 device(s) in 2 process(es)' in outs[0]
  assert 'training ' not in outs[1]  # only process 0 reports
  _run_one_process(_args(data_dir, one, steps, in_memory), cache_dir)

  want = kill_fuzz.read_arrays(str(one / 'checkpoints'), steps)
  got = kill_fuzz.read_arrays(str(two / 'checkpoints'), steps)
  assert want.keys() == got.keys()
  for name in want:
    assert np.array_equal(want[name], got[name]), name
  assert kill_fuzz.losses_by_step(str(one)) == kill_fuzz.losses_by_step(str(two))
  logged = [json.loads(line)['step'] for line in open(two / 'metrics.jsonl')]
  assert logged == list(range(2, steps + 1, 2))  # each once: only process 0 writes
  assert sorted(os.listdir(two / 'samples')) == sorted(os.listdir(one / 'samples'))
  assert json.load(open(two / 'config.json'))['data']['in_memory'] == in_memory
  assert not [n for n in os.listdir(two) if n.startswith('.write_test')]
