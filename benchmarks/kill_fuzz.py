"""Kill fuzz: SIGKILL a training run at random moments, resume it each time, and check that it
ends bit-exact against an uninterrupted run and never loads a partial checkpoint.

  python benchmarks/kill_fuzz.py [--kills=10] [--steps=40] [--seed=0] [--workdir=DIR]

Runs `launch.py` (tiny DCGAN on the offline digits, a checkpoint every 2 steps, keep 3) as a
subprocess. The kill moments cycle through three kinds:
  checkpoint  the moment a checkpoint is being written (an `N.orbax-checkpoint-tmp-*` folder
              exists; polled every millisecond),
  random      a random moment of the remaining training (after a uniformly drawn logged
              step, plus a random fraction of a few steps' time),
  startup     a random moment before training starts (imports, restore, compilation).
After every kill it checks that each step folder on disk holds exactly the state the
uninterrupted run saved at that step (the CRC32 digests Orbax saved with them agree), and that
the next launch resumes from the newest of them. At the end it compares the final checkpoint
array by array, the logged losses at every step and the sample PNGs with the uninterrupted run.

Writes benchmarks/results/kill_fuzz.{json,md}. The test suite runs a short version
(tests/test_reliability.py). Compilation is cached on disk (JAX's persistent cache) so each
relaunch starts in seconds; a cached executable is the very program a fresh compile makes.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

MODES = ('checkpoint', 'random', 'startup')


def run_args(workdir, data_dir, steps, keep=3, checkpoint_every=2):
  """launch.py arguments of the fuzzed experiment: configs/dcgan.py shrunk to run in seconds."""
  return ['--config=configs/dcgan.py', f'--workdir={workdir}',
          f"--config.data.data_dir='{data_dir}'", '--config.model.g_features=8',
          '--config.model.d_features=8', '--config.train.batch_size=16',
          f'--config.train.num_steps={steps}', '--config.train.log_every_steps=2',
          f'--config.train.sample_every_steps={max(2, steps // 2)}',
          f'--config.train.checkpoint_every_steps={checkpoint_every}',
          f'--config.train.keep_checkpoints={keep}', "--config.train.progress_bar='no'"]


def subprocess_env(cache_dir):
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONUNBUFFERED='1')
  if cache_dir:
    env.update(JAX_COMPILATION_CACHE_DIR=cache_dir, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='-1')
  return env


def ensure_data(data_dir):
  if not os.path.isdir(os.path.join(data_dir, 'offline_mnist')):
    from jaxgan.data.offline_mnist import OfflineMnist
    OfflineMnist(data_dir=data_dir, file_format='array_record').download_and_prepare()


def committed_steps(checkpoint_dir):
  if not os.path.isdir(checkpoint_dir):
    return []
  return sorted(int(n) for n in os.listdir(checkpoint_dir) if n.isdigit())


def tmp_folders(checkpoint_dir):
  if not os.path.isdir(checkpoint_dir):
    return []
  return sorted(n for n in os.listdir(checkpoint_dir) if 'tmp' in n)


def saved_digest(checkpoint_dir, step):
  with open(os.path.join(checkpoint_dir, str(step), 'loop', 'metadata')) as f:
    return json.load(f)['digest']


def read_arrays(checkpoint_dir, step):
  """The arrays of one checkpoint as a flat {path: numpy array} dict.

  Reads onto this process's first device whatever devices and processes wrote it (a restore
  without a target would insist on the saving topology).
  """
  import jax
  import numpy as np
  import orbax.checkpoint as ocp
  path = os.path.join(os.path.abspath(checkpoint_dir), str(step), 'default')
  checkpointer = ocp.StandardCheckpointer()
  metadata = checkpointer.metadata(path)
  tree = getattr(metadata, 'item_metadata', metadata)
  tree = getattr(tree, 'tree', tree)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)
  restored = checkpointer.restore(path, abstract)
  checkpointer.close()
  leaves = jax.tree_util.tree_flatten_with_path(restored)[0]
  return {jax.tree_util.keystr(p): np.asarray(leaf) for p, leaf in leaves}


def losses_by_step(workdir):
  records = {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      record = json.loads(line)
      records[record['step']] = {k: v for k, v in record.items() if k != 'steps_per_sec'}
  return records


def run_reference(workdir, data_dir, steps, cache_dir):
  """The uninterrupted run, keeping every checkpoint. Returns its wall time in seconds."""
  start = time.time()
  result = subprocess.run([sys.executable, 'launch.py'] +
                          run_args(workdir, data_dir, steps, keep=10_000), cwd=ROOT,
                          env=subprocess_env(cache_dir), capture_output=True, text=True)
  if result.returncode != 0:
    raise RuntimeError(f'reference run failed:\n{result.stderr[-3000:]}')
  return time.time() - start


class _Launch:
  """One launch.py subprocess whose stdout is watched line by line."""

  def __init__(self, args, env):
    self.started = time.time()
    self.out = open(tempfile.mktemp(suffix='.out'), 'w+')
    self.err = open(tempfile.mktemp(suffix='.err'), 'w+')
    self.process = subprocess.Popen([sys.executable, 'launch.py'] + args, cwd=ROOT, env=env,
                                    stdout=self.out, stderr=self.err, text=True)

  def stdout(self):
    with open(self.out.name) as f:
      return f.read()

  def stderr(self):
    with open(self.err.name) as f:
      return f.read()

  def training_started(self):
    return 'training ' in self.stdout()

  def kill(self):
    self.process.send_signal(signal.SIGKILL)
    self.process.wait()

  def close(self):
    for f in (self.out, self.err):
      f.close()
      os.remove(f.name)


def _last_logged(stdout):
  logged = re.findall(r'step (\d+)/', stdout)
  return int(logged[-1]) if logged else 0


def _resumed_from(stdout):
  match = re.search(r'resumed from checkpoint at step (\d+)', stdout)
  return int(match.group(1)) if match else None


def fuzz(kills=10, steps=40, seed=0, workdir=None, data_dir=None, reference=None,
         cache_dir=None, log=print, timeout=900):
  """Runs the fuzz; returns a dict of results. Raises AssertionError on any violation.

  `reference` may name an existing uninterrupted run of `run_args(..., keep=10_000)` with the
  same `steps` (the tests share one); otherwise one is made under `workdir`.
  """
  rng = random.Random(seed)
  workdir = workdir or tempfile.mkdtemp(prefix='kill_fuzz_')
  data_dir = data_dir or os.path.join(workdir, 'tensorflow_datasets')
  cache_dir = cache_dir or os.path.join(workdir, 'jax_cache')
  ensure_data(data_dir)
  env = subprocess_env(cache_dir)
  t0 = time.time()
  reference_seconds = None
  if reference is None:
    reference = os.path.join(workdir, 'reference')
    reference_seconds = run_reference(reference, data_dir, steps, cache_dir)
    log(f'reference run: {reference_seconds:.1f}s')
  ref_steps = committed_steps(os.path.join(reference, 'checkpoints'))
  assert ref_steps and ref_steps[-1] == steps, f'reference {reference} did not finish'

  events, launches, rounds = [], 0, []
  state = {'startup': 10.0, 'step_seconds': 0.2}
  deadline = time.time() + timeout
  while len(events) < kills:
    # A round fuzzes one workdir until its run finishes; more rounds if kills remain.
    fuzzed = os.path.join(workdir, f'fuzzed_{len(rounds)}')
    shutil.rmtree(fuzzed, ignore_errors=True)
    launches += _fuzz_round(fuzzed, reference, data_dir, steps, kills, events, state, env, rng,
                            deadline, log)
    rounds.append(_check_bit_exact(fuzzed, reference, steps))
  during_write = sum(1 for e in events if e['interrupted_a_write'])
  result = {
      'kills': len(events), 'launches': launches, 'rounds': len(rounds), 'steps': steps,
      'kills_during_checkpoint_write': during_write,
      'kills_by_mode': {m: sum(1 for e in events if e['mode'] == m) for m in MODES},
      'final_state_bit_exact': True, 'arrays_compared': rounds[-1]['arrays'],
      'metrics_records_equal': rounds[-1]['metric_records'],
      'sample_pngs_equal': rounds[-1]['sample_pngs'],
      'partial_checkpoints_loaded': 0,
      'reference_seconds': round(reference_seconds, 1) if reference_seconds else None,
      'total_seconds': round(time.time() - t0, 1), 'events': events}
  log(f'{len(events)} kills ({during_write} interrupted a checkpoint write), {launches} launches '
      f'in {len(rounds)} round(s): every final state bit-exact ({rounds[-1]["arrays"]} arrays), '
      f'metric records and sample grids equal, no partial checkpoint loaded')
  return result


def _fuzz_round(fuzzed, reference, data_dir, steps, kills, events, state, env, rng, deadline, log):
  ref_ckpt = os.path.join(reference, 'checkpoints')
  fuzzed_ckpt = os.path.join(fuzzed, 'checkpoints')
  args = run_args(fuzzed, data_dir, steps)
  launches = 0
  expected_resume = None
  while True:
    mode = MODES[len(events) % len(MODES)] if len(events) < kills else None
    leftovers = set(tmp_folders(fuzzed_ckpt))  # cut-short saves of an earlier kill
    launch = _Launch(args, env)
    launches += 1
    killed_at, moment, tmp_at_kill, tmp_after_kill = None, None, [], []
    try:
      if mode == 'startup':
        delay = rng.uniform(0.0, state['startup'])
        while time.time() - launch.started < delay and launch.process.poll() is None:
          time.sleep(0.005)
        moment = 'during startup' if not launch.training_started() else 'early in training'
      elif mode is not None:
        while not launch.training_started() and launch.process.poll() is None:
          time.sleep(0.005)
        if launch.training_started():
          state['startup'] = 0.5 * state['startup'] + 0.5 * (time.time() - launch.started)
        if mode == 'random':
          # A random point of the remaining progress: past a uniformly drawn logged step, then
          # a random fraction of a few steps' time.
          done = committed_steps(fuzzed_ckpt)
          logged = list(range(2, steps, 2))
          candidates = [s for s in logged if s > (done[-1] if done else 0)] or logged
          target = rng.choice(candidates)
          while launch.process.poll() is None and _last_logged(launch.stdout()) < target:
            time.sleep(0.002)
          delay = rng.uniform(0.0, 3 * state['step_seconds'])
          end = time.time() + delay
          while time.time() < end and launch.process.poll() is None:
            time.sleep(0.002)
          moment = f'{delay:.2f}s after logging step {target}'
        else:  # 'checkpoint'
          before = set(tmp_folders(fuzzed_ckpt))
          while launch.process.poll() is None and not (set(tmp_folders(fuzzed_ckpt)) - before):
            time.sleep(0.001)
          moment = 'while a checkpoint was being written'
      if mode and launch.process.poll() is None:
        tmp_at_kill = tmp_folders(fuzzed_ckpt)
        launch.kill()
        killed_at = time.time() - launch.started
        tmp_after_kill = tmp_folders(fuzzed_ckpt)
      else:
        launch.process.wait(timeout=max(1.0, deadline - time.time()))
      stdout, stderr = launch.stdout(), launch.stderr()
    finally:
      if launch.process.poll() is None:
        launch.kill()
      launch.close()

    resumed = _resumed_from(stdout)
    assert resumed == expected_resume or (killed_at is not None and 'training ' not in stdout), (
        f'launch {launches} resumed from {resumed}, expected the newest checkpoint '
        f'{expected_resume}\n{stdout[-2000:]}')
    assert 'warning: checkpoint' not in stderr, f'a checkpoint was damaged:\n{stderr[-2000:]}'
    if killed_at is None:
      assert launch.process.returncode == 0, f'launch {launches} failed:\n{stderr[-3000:]}'
    # Every step folder on disk holds exactly the state the uninterrupted run saved there.
    on_disk = committed_steps(fuzzed_ckpt)
    for step in on_disk:
      assert saved_digest(fuzzed_ckpt, step) == saved_digest(ref_ckpt, step), (
          f'checkpoint step {step} differs from the uninterrupted run')
    expected_resume = on_disk[-1] if on_disk else None
    if killed_at is None:
      return launches
    progress = re.findall(r'step (\d+)/', stdout)
    events.append({'kill': len(events) + 1, 'mode': mode, 'moment': moment,
                   'seconds_after_launch': round(killed_at, 3), 'resumed_from': resumed,
                   'last_logged_step': int(progress[-1]) if progress else None,
                   'checkpoints_on_disk': on_disk, 'tmp_folders_at_kill': tmp_at_kill,
                   'interrupted_a_write': bool(set(tmp_after_kill) - leftovers)})
    log(f'kill {len(events)}/{kills} ({mode}, {moment}, {killed_at:.2f}s after launch): '
        f'resumed from {resumed}, checkpoints on disk {on_disk}, '
        f'interrupted a checkpoint write: {events[-1]["interrupted_a_write"]}')
    rates = [float(x) for x in re.findall(r'steps_per_sec=([0-9.e+-]+)', stdout)[1:]]
    if rates:
      state['step_seconds'] = min(2.0, 1.0 / max(sum(rates) / len(rates), 1e-3))
    assert time.time() < deadline, 'kill fuzz ran out of time'


def _check_bit_exact(fuzzed, reference, steps):
  """The finished fuzzed run against the uninterrupted one: arrays, metrics, samples."""
  import numpy as np
  ref_ckpt, fuzzed_ckpt = os.path.join(reference, 'checkpoints'), os.path.join(fuzzed, 'checkpoints')
  want, got = read_arrays(ref_ckpt, steps), read_arrays(fuzzed_ckpt, steps)
  assert want.keys() == got.keys()
  mismatched = [name for name in want if not np.array_equal(want[name], got[name])]
  assert not mismatched, f'final state differs from the uninterrupted run: {mismatched[:5]}'
  want_losses, got_losses = losses_by_step(reference), losses_by_step(fuzzed)
  assert want_losses == got_losses, 'logged metrics differ from the uninterrupted run'
  samples = sorted(os.listdir(os.path.join(reference, 'samples')))
  assert samples == sorted(os.listdir(os.path.join(fuzzed, 'samples')))
  for name in samples:
    with open(os.path.join(reference, 'samples', name), 'rb') as a, \
         open(os.path.join(fuzzed, 'samples', name), 'rb') as b:
      assert a.read() == b.read(), f'samples/{name} differs'
  assert not tmp_folders(fuzzed_ckpt), 'temporary checkpoint folders were left behind'
  return {'arrays': len(want), 'metric_records': len(want_losses), 'sample_pngs': len(samples)}


def write_results(result, out_dir, command):
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'kill_fuzz.json'), 'w') as f:
    json.dump(dict(result, command=command), f, indent=2)
  lines = ['# Kill fuzz', '', f'Command: `{command}`', '',
           f'{result["kills"]} SIGKILLs over {result["launches"]} launches of a {result["steps"]}-step '
           'tiny DCGAN run (checkpoint every 2 steps, keep 3); '
           f'{result["kills_during_checkpoint_write"]} interrupted a checkpoint write (left an '
           '`N.orbax-checkpoint-tmp-*` folder behind).',
           '',
           f'- final state bit-exact with the uninterrupted run: {result["final_state_bit_exact"]} '
           f'({result["arrays_compared"]} arrays)',
           f'- metric records equal: {result["metrics_records_equal"]}; sample grids equal: '
           f'{result["sample_pngs_equal"]}',
           f'- partial checkpoints loaded: {result["partial_checkpoints_loaded"]} (each resume '
           'used the newest step on disk, every step on disk matched the uninterrupted run\'s '
           'digest)',
           f'- wall time: {result["total_seconds"]} s', '',
           '| kill | mode | moment | s after launch | resumed from | last logged step | checkpoints on disk after | interrupted a write |',
           '|---|---|---|---|---|---|---|---|']
  for e in result['events']:
    lines.append(f'| {e["kill"]} | {e["mode"]} | {e["moment"]} | {e["seconds_after_launch"]} | '
                 f'{e["resumed_from"]} | {e["last_logged_step"]} | {e["checkpoints_on_disk"]} | '
                 f'{"yes" if e["interrupted_a_write"] else "no"} |')
  with open(os.path.join(out_dir, 'kill_fuzz.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--kills', type=int, default=10)
  parser.add_argument('--steps', type=int, default=40)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--workdir', default=None, help='scratch folder (default: a new temp dir)')
  parser.add_argument('--data_dir', default=None, help='TFDS data dir holding offline_mnist')
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  args = parser.parse_args()
  result = fuzz(args.kills, args.steps, args.seed, args.workdir, args.data_dir)
  command = 'python benchmarks/kill_fuzz.py ' + ' '.join(sys.argv[1:])
  write_results(result, args.out, command.strip())
  print(f'wrote {os.path.join(args.out, "kill_fuzz.json")} and kill_fuzz.md')


if __name__ == '__main__':
  main()
