"""Held-out log-likelihood of the VAE family on the offline digits, next to the published figures.

Each model trains through the library's own loop (`jaxgan.train.run`, what `python launch.py
--config=... --workdir=...` runs) with IWAE's data protocol (dynamic binarization: a fresh
binary sample of every digit in every batch), then its final checkpoint is scored like
`python -m jaxgan.evaluate` does, by the 'likelihood' evaluator on the 500 held-out digits of
offline_mnist (binarized once with a fixed key): the ELBO and the importance-weighted bound
with k = 1, 50 and 5000 samples, in nats per digit.

  python benchmarks/vae.py                          # both models, the documented budget
  python benchmarks/vae.py --only=vae --steps=300   # a quick look (not written to results/)

Workdirs live under benchmarks/results/tmp/vae/<name> (git-ignored; re-running resumes, --fresh
starts over). Writes benchmarks/results/vae.json, vae.md and vae_<name>_<preview>.png.

The anchors (../shared/ANCHORS.md) are on full MNIST (60,000 training digits, 10,000 test),
with other schedules; the offline digits are 4,500 training and 500 test digits, so a model
here sees less data and is scored on fewer: the columns sit side by side for orientation, not
as a like-for-like comparison.
"""
import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'vae')
BOUNDS = (1, 50, 5000)
PREVIEWS = ('samples', 'reconstructions', 'interpolations')


@dataclasses.dataclass(frozen=True)
class Model:
  name: str
  config: str
  steps: int
  overrides: Tuple[str, ...] = ()
  description: str = ''


# 100 epochs of the 4,500 offline training digits at batch 128 (35 steps an epoch).
MODELS: List[Model] = [
    Model('vae', 'configs/vae.py', 3500, ('vae.data_mode=dynamic',),
          'MLP 784-400-20 (pytorch/examples), dynamic binarization'),
    Model('conv_vae', 'configs/conv_vae.py', 3500, ('vae.data_mode=dynamic',),
          'conv 32-64 + dense 256, 20 latents, dynamic binarization'),
]

# Published test log-likelihoods (nats; ../shared/ANCHORS.md), full MNIST.
ANCHORS = [
    ('IWAE paper (Burda et al. 2016), VAE 1 stochastic layer, trained k=1, k=5000 estimate, '
     'dynamic binarization', -86.76),
    ('IWAE paper, IWAE 1 layer trained k=50', -84.78),
    ('flax examples VAE (784-500-20), 10 epochs, static binarization: test ELBO (minus its '
     'test loss), about', -104.0),
    ('pytorch/examples VAE, epoch 7: minus its test loss (an ELBO on grey levels, so not a '
     'likelihood)', -106.66),
]


def make_config(model: Model, steps: int, data_dir: str):
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, model.config))
  steps = steps or model.steps
  every = max(1, steps // 4)
  config_lib.apply_overrides(config, [
      f'train.num_steps={steps}', f'train.checkpoint_every_steps={every}',
      f'train.sample_every_steps={every}', f'eval.every_steps={every}',
      'eval.likelihood_samples=(1, 50)', 'train.log_every_steps=100', 'train.progress_bar=no',
  ] + ([f'data.data_dir={data_dir}'] if data_dir else []) + list(model.overrides))
  return config


def run_model(model: Model, steps: int, data_dir: str, fresh: bool, quick: bool) -> dict:
  from jaxgan import train
  from jaxgan.evaluate import evaluate_run
  workdir = os.path.join(WORK, f'quick_{model.name}' if quick else model.name)
  if fresh and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  config = make_config(model, steps, data_dir)
  print(f'== {model.name}: {model.config}, {config.train.num_steps} steps, workdir {workdir}',
        flush=True)
  start = time.time()
  train.run(config, workdir)
  wall = time.time() - start
  with config.unlocked():   # the final score with the tight bound too
    config.eval.likelihood_samples = BOUNDS
  start = time.time()
  step, metrics, _, info = evaluate_run(workdir, config=config)
  eval_wall = time.time() - start
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f if line.strip()]
  curve = [{k: r[k] for k in r if k == 'step' or k == 'elbo' or k.startswith('iwae')}
           for r in records if 'iwae_k1' in r]
  speeds = sorted(r['steps_per_sec'] for r in records if 'steps_per_sec' in r)
  print(f'   {model.name}: ' + ' '.join(f'{k}={v:.2f}' for k, v in metrics.items()), flush=True)
  return {'name': model.name, 'config': model.config, 'description': model.description,
          'overrides': list(model.overrides), 'steps': step, 'metrics': metrics, 'curve': curve,
          'info': info, 'train_wall_s': round(wall, 1), 'eval_wall_s': round(eval_wall, 1),
          'median_steps_per_sec': speeds[len(speeds) // 2] if speeds else None,
          'workdir': workdir}


def markdown(report: dict) -> str:
  lines = ['Held-out bounds on log p(x), nats per digit (higher is better), on the 500 test digits '
           'of offline_mnist (4,500 training digits), dynamic binarization. Command: '
           f'`{report["command"]}`.', '',
           '| model | steps | ELBO | IWAE k=1 | IWAE k=50 | IWAE k=5000 |',
           '| --- | ---: | ---: | ---: | ---: | ---: |']
  for row in report['rows']:
    m = row['metrics']
    lines.append(f'| {row["name"]}: {row["description"]} | {row["steps"]} | {m["elbo"]:.2f} | '
                 f'{m["iwae_k1"]:.2f} | {m["iwae_k50"]:.2f} | {m["iwae_k5000"]:.2f} |')
  lines += ['', 'Published figures (full MNIST, other schedules; for orientation only):', '',
            '| source | nats |', '| --- | ---: |']
  lines += [f'| {label} | {value:.2f} |' for label, value in ANCHORS]
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--only', default='', help='comma-separated model names')
  parser.add_argument('--steps', type=int, default=0, help='override the budget (a quick look)')
  parser.add_argument('--data_dir', default='')
  parser.add_argument('--fresh', action='store_true')
  parser.add_argument('--table_only', action='store_true',
                      help='rewrite vae.md from vae.json (e.g. after editing the anchors)')
  args = parser.parse_args(argv)
  names = [n for n in args.only.split(',') if n]
  unknown = sorted(set(names) - {m.name for m in MODELS})
  if unknown:
    parser.error(f'unknown model(s) {", ".join(unknown)}; choose from '
                 f'{", ".join(m.name for m in MODELS)}')
  if args.table_only:
    with open(os.path.join(RESULTS, 'vae.json')) as f:
      report = json.load(f)
    report['anchors'] = [{'source': s, 'nats': v} for s, v in ANCHORS]
    with open(os.path.join(RESULTS, 'vae.json'), 'w') as f:
      json.dump(report, f, indent=2)
    with open(os.path.join(RESULTS, 'vae.md'), 'w') as f:
      f.write(markdown(report))
    return 0
  chosen = [m for m in MODELS if not names or m.name in names]
  quick = bool(args.steps)
  rows = [run_model(m, args.steps, args.data_dir, args.fresh, quick) for m in chosen]
  command = 'python benchmarks/vae.py' + (f' --only={args.only}' if args.only else '')
  report = {'command': command, 'machine': {'platform': platform.platform(),
                                            'cores': os.cpu_count()},
            'date': time.strftime('%Y-%m-%d'), 'rows': rows,
            'anchors': [{'source': s, 'nats': v} for s, v in ANCHORS]}
  if quick:
    print(markdown(report))
    return 0
  for row in rows:
    for preview in PREVIEWS:
      name = 'step' if preview == 'samples' else f'{preview}_step'
      source = os.path.join(row['workdir'], 'samples', f'{name}_{row["steps"]}.png')
      if os.path.exists(source):
        shutil.copyfile(source, os.path.join(RESULTS, f'vae_{row["name"]}_{preview}.png'))
    row['workdir'] = os.path.relpath(row['workdir'], ROOT)
  previous = {}
  path = os.path.join(RESULTS, 'vae.json')
  if names and os.path.exists(path):   # a partial run keeps the other rows
    with open(path) as f:
      previous = {r['name']: r for r in json.load(f)['rows']}
  previous.update({r['name']: r for r in rows})
  report['rows'] = [previous[m.name] for m in MODELS if m.name in previous]
  report['command'] = 'python benchmarks/vae.py'
  with open(path, 'w') as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(RESULTS, 'vae.md'), 'w') as f:
    f.write(markdown(report))
  print(markdown(report))
  return 0


if __name__ == '__main__':
  sys.exit(main())
