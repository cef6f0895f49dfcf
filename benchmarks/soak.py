"""Soak: a long CPU run with frequent checkpoints; memory must stay flat and disk within keep-N.

  python benchmarks/soak.py [--minutes=6] [--checkpoint_every=5] [--keep=3]

Trains a small DCGAN on the offline digits with `launch.py` in a subprocess (as a user would),
checkpointing every few steps, and samples once a second: the process's resident memory
(VmRSS from /proc), the bytes and step folders under checkpoints/ (temporary and trash folders
included), and the step reached. At the end it stops the run with SIGTERM (the preemption
path: finish the step, checkpoint, exit 0).

Memory is judged after a warm-up (compilation, first checkpoints): the growth between the
median of the first and of the last quarter of the remaining samples, and a least-squares
slope. Disk is judged against keep-N: never more than keep+2 checkpoints' worth of bytes (a
finished save briefly makes keep+1 committed steps before the oldest goes to the trash folder,
and with frequent checkpoints the next save may already be writing then).

Writes benchmarks/results/soak.{json,md}; the test suite runs a 30-second version
(tests/test_reliability.py).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks.kill_fuzz import ensure_data, subprocess_env  # noqa: E402


def rss_mb(pid):
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) / 1024.0
  except OSError:
    return None
  return None


def tree_bytes(path):
  total = 0
  for folder, _, files in os.walk(path):
    for name in files:
      try:
        total += os.lstat(os.path.join(folder, name)).st_size
      except OSError:
        pass  # deleted while walking
  return total


def checkpoint_listing(checkpoint_dir):
  if not os.path.isdir(checkpoint_dir):
    return [], [], 0
  names = os.listdir(checkpoint_dir)
  steps = sorted(int(n) for n in names if n.isdigit())
  tmp = [n for n in names if 'tmp' in n]
  trash = os.path.join(checkpoint_dir, 'deleted')
  trashed = len(os.listdir(trash)) if os.path.isdir(trash) else 0
  return steps, tmp, trashed


def last_logged_step(metrics_path):
  try:
    with open(metrics_path, 'rb') as f:
      f.seek(max(0, os.path.getsize(metrics_path) - 4096))
      lines = f.read().decode(errors='ignore').strip().splitlines()
    return json.loads(lines[-1])['step'] if lines else 0
  except (OSError, ValueError, KeyError, IndexError):
    return 0


def _median(values):
  values = sorted(values)
  n = len(values)
  return (values[n // 2] + values[(n - 1) // 2]) / 2.0 if n else float('nan')


def _slope_per_minute(times, values):
  n = len(times)
  if n < 2:
    return 0.0
  mt, mv = sum(times) / n, sum(values) / n
  var = sum((t - mt) ** 2 for t in times)
  return 60.0 * sum((t - mt) * (v - mv) for t, v in zip(times, values)) / var if var else 0.0


def soak(seconds=360, checkpoint_every=5, keep=3, features=16, workdir=None, data_dir=None,
         cache_dir=None, warmup_fraction=0.25, log=print):
  workdir = workdir or tempfile.mkdtemp(prefix='soak_')
  data_dir = data_dir or os.path.join(workdir, 'tensorflow_datasets')
  cache_dir = cache_dir or os.path.join(workdir, 'jax_cache')
  ensure_data(data_dir)
  run_dir = os.path.join(workdir, 'run')
  checkpoint_dir = os.path.join(run_dir, 'checkpoints')
  args = ['--config=configs/dcgan.py', f'--workdir={run_dir}',
          f"--config.data.data_dir='{data_dir}'", f'--config.model.g_features={features}',
          f'--config.model.d_features={features}', '--config.train.batch_size=16',
          '--config.train.num_steps=100000000', '--config.train.log_every_steps=10',
          '--config.train.sample_every_steps=200',
          f'--config.train.checkpoint_every_steps={checkpoint_every}',
          f'--config.train.keep_checkpoints={keep}', "--config.train.progress_bar='no'"]
  out = open(os.path.join(workdir, 'stdout.txt'), 'w')
  err = open(os.path.join(workdir, 'stderr.txt'), 'w')
  started = time.time()
  process = subprocess.Popen([sys.executable, 'launch.py'] + args, cwd=ROOT,
                             env=subprocess_env(cache_dir), stdout=out, stderr=err)
  samples, training_started = [], None
  max_step_dirs, max_tmp, max_bytes, single_checkpoint = 0, 0, 0, 0
  try:
    while process.poll() is None:
      now = time.time() - started
      step = last_logged_step(os.path.join(run_dir, 'metrics.jsonl'))
      if step and training_started is None:
        training_started = now
      if training_started is not None and now - training_started >= seconds:
        break
      steps, tmp, trashed = checkpoint_listing(checkpoint_dir)
      size = tree_bytes(checkpoint_dir)
      memory = rss_mb(process.pid)
      if steps:   # a step folder is complete once it has its name (Orbax renames it from tmp)
        one = tree_bytes(os.path.join(checkpoint_dir, str(steps[-1])))
        single_checkpoint = max(single_checkpoint, one)
      max_step_dirs, max_tmp, max_bytes = (max(max_step_dirs, len(steps)), max(max_tmp, len(tmp)),
                                           max(max_bytes, size))
      if memory is not None:
        samples.append({'t': round(now, 2), 'rss_mb': round(memory, 1), 'step': step,
                        'checkpoint_bytes': size, 'step_folders': len(steps),
                        'tmp_folders': len(tmp), 'trashed': trashed})
      time.sleep(1.0)
    if process.poll() is not None:
      raise RuntimeError(f'the soak run ended early (exit {process.returncode}); see '
                         f'{err.name}')
    process.send_signal(signal.SIGTERM)
    exit_code = process.wait(timeout=300)
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
    out.close()
    err.close()

  steps, tmp, trashed = checkpoint_listing(checkpoint_dir)
  final_step = steps[-1] if steps else 0
  if steps:
    single_checkpoint = max(single_checkpoint,
                            tree_bytes(os.path.join(checkpoint_dir, str(final_step))))
  trained = [s for s in samples if training_started is not None and s['t'] >= training_started]
  skip = int(len(trained) * warmup_fraction)
  judged = trained[skip:]
  quarter = max(1, len(judged) // 4)
  first, last = judged[:quarter], judged[-quarter:]
  rss_first, rss_last = _median([s['rss_mb'] for s in first]), _median([s['rss_mb'] for s in last])
  slope = _slope_per_minute([s['t'] for s in judged], [s['rss_mb'] for s in judged])
  checkpoints_written = final_step // checkpoint_every
  disk_bound = (keep + 2) * single_checkpoint
  result = {
      'seconds_training': round(seconds, 1), 'startup_seconds': round(training_started or 0, 1),
      'final_step': final_step, 'checkpoint_every_steps': checkpoint_every, 'keep': keep,
      'checkpoints_written': checkpoints_written, 'exit_code_after_sigterm': exit_code,
      'rss_mb_first_quarter': round(rss_first, 1), 'rss_mb_last_quarter': round(rss_last, 1),
      'rss_growth_mb': round(rss_last - rss_first, 1),
      'rss_growth_fraction': round((rss_last - rss_first) / rss_first, 4) if rss_first else None,
      'rss_slope_mb_per_minute': round(slope, 2),
      'rss_mb_max': max((s['rss_mb'] for s in samples), default=None),
      'single_checkpoint_bytes': single_checkpoint, 'max_checkpoint_dir_bytes': max_bytes,
      'disk_bound_bytes': disk_bound, 'max_step_folders': max_step_dirs,
      'max_tmp_folders': max_tmp, 'final_step_folders': steps, 'final_tmp_folders': tmp,
      'final_trashed': trashed, 'samples': samples,
  }
  log(f'soak: {seconds:.0f}s of training after {result["startup_seconds"]}s startup, '
      f'{final_step} steps, {checkpoints_written} checkpoints; RSS {rss_first:.0f} -> '
      f'{rss_last:.0f} MB ({slope:+.2f} MB/min); checkpoints/ at most {max_bytes / 1e6:.2f} MB '
      f'(bound {disk_bound / 1e6:.2f} MB = {keep + 2} x {single_checkpoint / 1e6:.2f} MB), '
      f'at most {max_step_dirs} step folders; exit {exit_code} after SIGTERM')
  return result


def write_results(result, out_dir, command):
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'soak.json'), 'w') as f:
    json.dump(dict(result, command=command), f, indent=1)
  r = result
  every = max(1, len(r['samples']) // 12)
  lines = [
      '# Soak', '', f'Command: `{command}`', '',
      f'A DCGAN (g/d features {r.get("features", "")}) trained on CPU for {r["seconds_training"]} s '
      f'(after {r["startup_seconds"]} s of startup and compilation), {r["final_step"]} steps, a '
      f'checkpoint every {r["checkpoint_every_steps"]} steps ({r["checkpoints_written"]} written), '
      f'keep {r["keep"]}; stopped with SIGTERM (exit {r["exit_code_after_sigterm"]}).', '',
      '| measure | value |', '|---|---|',
      f'| RSS, median of first quarter after warm-up | {r["rss_mb_first_quarter"]} MB |',
      f'| RSS, median of last quarter | {r["rss_mb_last_quarter"]} MB |',
      f'| RSS growth | {r["rss_growth_mb"]} MB ({100 * (r["rss_growth_fraction"] or 0):.1f}%) |',
      f'| RSS slope (least squares, after warm-up) | {r["rss_slope_mb_per_minute"]} MB/min |',
      f'| one checkpoint | {r["single_checkpoint_bytes"] / 1e6:.3f} MB |',
      f'| checkpoints/ at most | {r["max_checkpoint_dir_bytes"] / 1e6:.3f} MB '
      f'(bound (keep+2) x one = {r["disk_bound_bytes"] / 1e6:.3f} MB) |',
      f'| step folders at most / at the end | {r["max_step_folders"]} / {r["final_step_folders"]} |',
      f'| temporary folders at most / at the end | {r["max_tmp_folders"]} / {len(r["final_tmp_folders"])} |',
      '', '| t (s) | step | RSS (MB) | checkpoints/ (MB) | step folders |', '|---|---|---|---|---|']
  for s in r['samples'][::every]:
    lines.append(f'| {s["t"]} | {s["step"]} | {s["rss_mb"]} | {s["checkpoint_bytes"] / 1e6:.3f} | '
                 f'{s["step_folders"]} |')
  with open(os.path.join(out_dir, 'soak.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--minutes', type=float, default=6.0)
  parser.add_argument('--checkpoint_every', type=int, default=5)
  parser.add_argument('--keep', type=int, default=3)
  parser.add_argument('--features', type=int, default=16)
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  args = parser.parse_args()
  result = soak(args.minutes * 60, args.checkpoint_every, args.keep, args.features, args.workdir,
                args.data_dir)
  result['features'] = args.features
  command = ('python benchmarks/soak.py ' + ' '.join(sys.argv[1:])).strip()
  write_results(result, args.out, command)
  print(f'wrote {os.path.join(args.out, "soak.json")} and soak.md')


if __name__ == '__main__':
  main()
