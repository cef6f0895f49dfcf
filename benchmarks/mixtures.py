"""The 2-D Gaussian-mixture mode-collapse benchmark (PacGAN's protocol), on CPU.

For each variant (a configs/mixture_*.py) and each mixture (grid25, ring8), trains 5 seeds at
once (jax.vmap over seeds, one compiled program) with the library's own trainer and data
source, then draws 2,500 samples per seed and reports, as PacGAN and VEEGAN do: modes captured,
the percentage of high-quality samples (within 3 standard deviations of the nearest mode) and
the reverse KL between the modes' histogram and uniform. Seed s is the computation that
`python launch.py --config=configs/mixture_X.py --config.seed=s` runs (same keys, same
batches), vectorised.

  python benchmarks/mixtures.py                       # everything, the documented budget
  python benchmarks/mixtures.py --variants=gan --mixtures=ring8 --steps=500   # a quick look

Writes benchmarks/results/mixtures.json, mixtures.md and mixtures_<variant>.png (samples over
the modes, one panel per seed and mixture; the samples themselves stay beside them as
mixtures_<variant>_<mixture>.npy, not committed). Several processes may write into the same
folder at once, e.g. one per mixture to use more cores:

  python benchmarks/mixtures.py --variants=unrolled --mixtures=grid25 &
  python benchmarks/mixtures.py --variants=unrolled --mixtures=ring8 &
"""
import argparse
import importlib
import json
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import config as config_lib  # noqa: E402
from jaxgan import train  # noqa: E402
from jaxgan.data import mixtures  # noqa: E402

# variant -> (config module, label)
VARIANTS = {
    'gan': ('mixture_gan', 'GAN'),
    'unrolled': ('mixture_unrolled', 'Unrolled GAN (k=5)'),
    'wgan_gp': ('mixture_wgan_gp', 'WGAN-GP'),
    'minibatch': ('mixture_minibatch', 'Minibatch discrimination'),
    'pacgan2': ('mixture_pacgan', 'PacGAN2'),
    'pacgan4': ('mixture_pacgan', 'PacGAN4'),
}
PACK = {'pacgan2': 2, 'pacgan4': 4}

# PacGAN (Lin et al. 2018), Table 1: modes captured / % high-quality samples, after 400 epochs
# of 100,000 samples (400,000 steps), averaged over 10 runs. Only the values we cite.
PUBLISHED = {
    ('grid25', 'gan'): (17.3, 94.8),
    ('grid25', 'pacgan4'): (24.8, 93.6),
    ('ring8', 'pacgan2'): (7.9, 95.6),
}
NUM_SAMPLES = 2500


def make_config(variant, mixture, steps, overrides=()):
  module, _ = VARIANTS[variant]
  config = importlib.import_module(f'configs.{module}').get_config()
  config.data.name = mixture
  if variant in PACK:
    config.model.pack = PACK[variant]
    config.train.batch_size = 100 * PACK[variant]
  config.train.num_steps = steps
  config_lib.apply_overrides(config, overrides)
  config_lib.validate(config)
  return config


def run_variant(variant, mixture, seeds, steps, chunk, overrides=()):
  """Trains `seeds` at once (the loop's own step, jaxgan/train.py, vmapped over seeds);
  returns samples [S, N, 2] and seconds of training."""
  config = make_config(variant, mixture, steps, overrides)
  runs = []
  for seed in seeds:
    seeded = config.copy_and_resolve_references()
    seeded.seed = seed
    runs.append(train.build(seeded))
  first = runs[0]
  span = first.spans[0]
  one_step = train.loop_step(first.guarded_step(span), first.batches, span)

  def stacked(values):
    return jax.tree.map(lambda *x: jnp.stack(x), *values)
  device_data = stacked([r.batches.device_data for r in runs])
  train_keys = jnp.stack([r.train_key for r in runs])
  sample_keys = jnp.stack([r.sample_key for r in runs])
  states = stacked([r.init_state() for r in runs])
  guards = stacked([r.initial_guard() for r in runs])

  @jax.jit
  def train_chunk(states, guards):
    def body(carry, _):
      states, guards, metrics = jax.vmap(one_step)(*carry, device_data, train_keys)
      return (states, guards), metrics
    (states, guards), metrics = jax.lax.scan(body, (states, guards), None, length=chunk)
    return states, guards, jax.tree.map(lambda m: m[-1], metrics)

  start = time.time()
  done = 0
  while done < steps:
    states, guards, metrics = train_chunk(states, guards)
    done += chunk
    print(f'  {variant}/{mixture} step {done}: ' + ' '.join(
        f'{name}={float(jnp.mean(v)):.3f}' for name, v in metrics.items()), flush=True)
  jax.block_until_ready(states)
  seconds = time.time() - start
  bad = np.asarray(guards['bad_step'])
  if (bad >= 0).any():
    print(f'  {variant}/{mixture}: seeds {[s for s, b in zip(seeds, bad) if b >= 0]} stopped on '
          'NaN/Inf (their state froze at that step)', flush=True)
  sample = first.trainer.functions()['sample']
  samples = jax.jit(jax.vmap(lambda s, key: sample(s, key, NUM_SAMPLES)))(states, sample_keys)
  return np.asarray(samples), seconds


def summarise(per_seed):
  out = {}
  for name in ('modes', 'high_quality', 'reverse_kl'):
    values = np.array([r[name] for r in per_seed], np.float64)
    out[name] = {'mean': float(values.mean()), 'std': float(values.std())}
  return out


def plot(variant, results, samples, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  mixture_names = [m for m in ('grid25', 'ring8') if m in samples]
  seeds = samples[mixture_names[0]].shape[0]
  fig, axes = plt.subplots(len(mixture_names), seeds, figsize=(2.2 * seeds, 2.3 * len(mixture_names)),
                           squeeze=False)
  for row, mixture in enumerate(mixture_names):
    means, _, extent = mixtures.MIXTURES[mixture]
    for col in range(seeds):
      ax = axes[row][col]
      pts = samples[mixture][col]
      ax.scatter(pts[:, 0], pts[:, 1], s=1, c='tab:blue', alpha=0.3, linewidths=0)
      ax.scatter(means[:, 0], means[:, 1], s=12, c='tab:red', marker='x', linewidths=0.8)
      ax.set_xlim(-extent, extent)
      ax.set_ylim(-extent, extent)
      ax.set_aspect('equal')
      ax.set_xticks([])
      ax.set_yticks([])
      r = results[mixture]['per_seed'][col]
      ax.set_title(f'{mixture} s{col}: {r["modes"]} modes, {100 * r["high_quality"]:.0f}%',
                   fontsize=7)
  fig.suptitle(f'{VARIANTS[variant][1]}: 2,500 samples per seed (x: mode means)', fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def markdown(report):
  lines = [
      '| mixture | variant | modes captured | high-quality samples (%) | reverse KL | '
      'PacGAN Table 1 (modes / %) | steps | seeds | train time (the seeds together) |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for mixture, total in (('grid25', 25), ('ring8', 8)):
    for variant in report['variants']:
      entry = report['results'].get(variant, {}).get(mixture)
      if entry is None:
        continue
      s = entry['summary']
      published = PUBLISHED.get((mixture, variant))
      pub = f'{published[0]} / {published[1]}' if published else '—'
      lines.append(
          f'| {mixture} | {VARIANTS[variant][1]} | {s["modes"]["mean"]:.1f} ± {s["modes"]["std"]:.1f} '
          f'(of {total}) | {100 * s["high_quality"]["mean"]:.1f} ± {100 * s["high_quality"]["std"]:.1f} | '
          f'{s["reverse_kl"]["mean"]:.2f} ± {s["reverse_kl"]["std"]:.2f} | {pub} | '
          f'{entry["steps"]:,} | {len(entry["per_seed"])} | {entry["train_seconds"]:.0f} s |')
    for (m, variant), published in PUBLISHED.items():   # published rows we did not run
      if m == mixture and mixture not in report['results'].get(variant, {}):
        lines.append(f'| {mixture} | {VARIANTS[variant][1]} | not run | | | '
                     f'{published[0]} / {published[1]} | | | |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--variants', default='gan,unrolled,wgan_gp,minibatch,pacgan4')
  parser.add_argument('--mixtures', default='grid25,ring8')
  parser.add_argument('--seeds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=4000, help='generator steps per run')
  parser.add_argument('--chunk', type=int, default=250, help='steps per compiled dispatch')
  parser.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE',
                      help='config override for every variant, e.g. --set=optim.g_lr=1e-3')
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  parser.add_argument('--fresh', action='store_true',
                      help='drop the rows of earlier runs from mixtures.json')
  parser.add_argument('--table_only', action='store_true',
                      help='rewrite mixtures.md from mixtures.json without training')
  args = parser.parse_args()
  json_path = os.path.join(args.out, 'mixtures.json')
  if args.table_only:
    return write_table(json_path, args.out)
  if args.steps % args.chunk:
    parser.error('--steps must be a multiple of --chunk')
  variants = args.variants.split(',')
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown:
    parser.error(f'unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}')
  mixture_names = args.mixtures.split(',')
  os.makedirs(args.out, exist_ok=True)
  if args.fresh and os.path.exists(json_path):
    os.remove(json_path)
  protocol = {
      'samples_per_seed': NUM_SAMPLES, 'seeds': list(range(args.seeds)), 'steps': args.steps,
      'overrides': args.set,
      'high_quality': 'within 3 standard deviations of the nearest mode',
      'modes': 'modes nearest to at least one high-quality sample',
      'reverse_kl': 'KL(histogram of high-quality samples over modes || uniform)',
      'device': f'{jax.devices()[0].device_kind} x{len(jax.devices())}',
      'command': 'python benchmarks/mixtures.py ' + shlex.join(sys.argv[1:])}
  seeds = list(range(args.seeds))
  for variant in variants:
    for mixture in mixture_names:
      print(f'{variant} on {mixture}: {args.seeds} seeds x {args.steps} steps', flush=True)
      points, seconds = run_variant(variant, mixture, seeds, args.steps, args.chunk, args.set)
      per_seed = [mixtures.evaluate(p, mixture) for p in points]
      np.save(_samples_path(args.out, variant, mixture), points)
      entry = {'per_seed': per_seed, 'summary': summarise(per_seed), 'train_seconds': seconds,
               'config': VARIANTS[variant][0], 'steps': args.steps, 'overrides': args.set,
               'command': protocol['command']}
      report = _record_row(json_path, protocol, variant, mixture, entry)
      print(f'  -> {json.dumps(summarise(per_seed))} in {seconds:.0f} s', flush=True)
      _plot_saved(variant, report, args.out)
  write_table(json_path, args.out)


def _samples_path(out, variant, mixture):
  return os.path.join(out, f'mixtures_{variant}_{mixture}.npy')


def _record_row(json_path, protocol, variant, mixture, entry):
  """Adds one (variant, mixture) row to mixtures.json and returns the whole report.

  Read-modify-write under a lock, so several processes (one per mixture, say, to use more
  cores) can run into the same results folder. Rows of earlier runs stay: each names its own
  steps, overrides and command, so variants may carry different budgets.
  """
  import fcntl
  with open(json_path + '.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    report = {'protocol': protocol, 'variants': [], 'results': {}}
    if os.path.exists(json_path):
      with open(json_path) as f:
        earlier = json.load(f)
      report['variants'], report['results'] = earlier['variants'], earlier['results']
    if variant not in report['variants']:
      report['variants'].append(variant)
    report['results'].setdefault(variant, {})[mixture] = entry
    tmp = json_path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(report, f, indent=1)
    os.replace(tmp, json_path)
  return report


def _plot_saved(variant, report, out):
  """Plots every mixture of `variant` whose samples are saved and whose row is in the report."""
  samples = {}
  for mixture in ('grid25', 'ring8'):
    path = _samples_path(out, variant, mixture)
    if mixture in report['results'].get(variant, {}) and os.path.exists(path):
      samples[mixture] = np.load(path)
  if samples:
    plot(variant, report['results'][variant], samples,
         os.path.join(out, f'mixtures_{variant}.png'))


def write_table(json_path, out):
  with open(json_path) as f:
    report = json.load(f)
  for variant in report['results'].values():   # runs saved before the log K convention
    for mixture, entry in variant.items():
      for r in entry['per_seed']:
        if not np.isfinite(r['reverse_kl']):
          r['reverse_kl'] = float(np.log(r['num_modes']))
      entry['summary'] = summarise(entry['per_seed'])
  protocol = report['protocol']
  table = markdown(report)
  with open(os.path.join(out, 'mixtures.md'), 'w') as f:
    commands = []
    for rows in report['results'].values():
      for entry in rows.values():
        if entry['command'] not in commands:
          commands.append(entry['command'])
    f.write(f'Gaussian-mixture benchmark: {len(protocol["seeds"])} seeds per variant, the '
            f'generator steps shown, {NUM_SAMPLES} samples per seed, mean ± std over seeds.\n'
            'Commands:\n\n' + ''.join(f'    {c}\n' for c in commands) + f'\n{table}\n')
  print(table)


if __name__ == '__main__':
  main()
