"""Sample quality of the GAN family on the offline digits, next to the reference points.

Each variant trains through the library's own loop (`jaxgan.train.run`, exactly what
`python launch.py --config=... --workdir=...` runs) for the documented step budget, then its
final checkpoint is evaluated like `python -m jaxgan.evaluate` does: 2,000 samples from fixed
noise against the 500 held-out digits of offline_mnist, in the features of the project's digit
network. Reference points (real train digits = the floor, blurred real digits, Gaussian noise)
are scored with the same sample count.

  python benchmarks/quality.py                        # every variant, the documented budget
  python benchmarks/quality.py --only=gan --steps=500 # a quick look (not written to results/)

Workdirs live under benchmarks/results/tmp/quality/<name> (git-ignored); re-running resumes
or, when a run is complete, only re-evaluates it (--fresh starts over). Writes
benchmarks/results/quality.json, quality.md and quality_<name>.png (final sample grid).

To add a variant (WGAN, WGAN-GP, cGAN, ...), append a Variant to VARIANTS: a name, its config
file, the step budget and any overrides. Nothing else changes.
"""
import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
from typing import List, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'quality')


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str                     # row label and workdir name
  config: str                   # experiment file, relative to the repository root
  steps: int = 0                # training budget in generator steps; 0: the config's own num_steps
  overrides: Tuple[str, ...] = ()   # extra `field=value` config overrides
  description: str = ''


# The documented budget: each experiment's own schedule (its config's train.num_steps, shown in
# the table), batch 64. The MLP GAN is cheap per step and slow to learn, DCGAN the reverse.
VARIANTS: List[Variant] = [
    Variant('gan', 'configs/gan.py', description='MLP G and D (the tutorial GAN, see configs/gan.py)'),
    Variant('bn_gan', 'configs/bn_gan.py', description='MLP G with BatchNorm, strided-conv D'),
    Variant('dcgan', 'configs/dcgan.py', description='DCGAN (pytorch/examples)'),
    # The Wasserstein pair updates the critic 5 times per generator step, so a generator step
    # costs about 3x (WGAN) and 5x (WGAN-GP, double backward) a DCGAN step on CPU; their
    # budgets are in generator steps, shown in the table.
    Variant('wgan', 'configs/wgan.py', 1500,
            description='WGAN: DCGAN nets, weight clipping 0.01, RMSprop 5e-5, 5 critic steps'),
    Variant('wgan_gp', 'configs/wgan_gp.py', 1000,
            description='WGAN-GP: DCGAN nets, critic without BatchNorm, penalty 10, 5 critic steps'),
]

NUM_SAMPLES = 2000
EVALS_PER_RUN = 4     # evaluations during training, for the curve in quality.json
# Columns of the Markdown table: (metric key, header, format).
COLUMNS = [('fd_digits', 'FD-digits ↓', '{:.1f}'), ('kid', 'KID ↓', '{:.2f}'),
           ('precision', 'precision ↑', '{:.3f}'), ('recall', 'recall ↑', '{:.3f}'),
           ('density', 'density', '{:.3f}'), ('coverage', 'coverage ↑', '{:.3f}'),
           ('is_digits', 'IS-digits ↑', '{:.2f}'), ('classes_covered', 'classes', '{:.0f}'),
           ('class_kl', 'class KL ↓', '{:.3f}')]
REFERENCE_LABELS = {'floor': 'real train digits (floor)', 'blur': 'real digits blurred (σ=1 px)',
                    'noise': 'Gaussian noise'}


def make_config(variant: Variant, steps: int, data_dir: str):
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, variant.config))
  steps = steps or config.train.num_steps
  every = max(1, steps // EVALS_PER_RUN)
  config_lib.apply_overrides(config, [
      f'train.num_steps={steps}', f'eval.every_steps={every}', f'eval.num_samples={NUM_SAMPLES}',
      f'train.checkpoint_every_steps={every}', f'train.sample_every_steps={every}',
      'train.log_every_steps=100', 'train.progress_bar=no', 'eval.reference_points=False',
  ] + ([f'data.data_dir={data_dir}'] if data_dir else []) + list(variant.overrides))
  return config


def _read_records(workdir: str) -> List[dict]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def run_variant(variant: Variant, steps: int, data_dir: str, fresh: bool, quick: bool) -> dict:
  from jaxgan import train
  from jaxgan.evaluate import evaluate_run
  # Quick looks get their own workdirs, so they never mix into a documented run's history.
  workdir = os.path.join(WORK, f'quick_{variant.name}' if quick else variant.name)
  if fresh and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  config = make_config(variant, steps, data_dir)
  print(f'== {variant.name}: {variant.config}, {config.train.num_steps} steps, workdir {workdir}',
        flush=True)
  start = time.time()
  train.run(config, workdir)
  wall = time.time() - start
  with config.unlocked():
    config.eval.reference_points = True
  step, metrics, references, info = evaluate_run(workdir, config=config)
  records = _read_records(workdir)
  speeds = sorted(r['steps_per_sec'] for r in records if 'steps_per_sec' in r)
  curve = [{k: v for k, v in r.items() if '/' not in k} for r in records if 'fd_digits' in r]
  return {'name': variant.name, 'config': variant.config, 'description': variant.description,
          'steps': step, 'overrides': list(variant.overrides),
          'wall_seconds_last_session': round(wall, 1),
          'median_steps_per_sec': speeds[len(speeds) // 2] if speeds else None,
          'metrics': metrics, 'curve': curve, 'info': info, 'references': references,
          'sample_grid': os.path.join(workdir, 'samples', f'step_{step}.png')}


STACKED_SAMPLES = 26_000  # PacGAN/VEEGAN's sample count for Stacked-MNIST


def stacked_mnist_reference(data_dir: str, seed: int = 0) -> dict:
  """Stacked-MNIST modes of real data: 26,000 stacks of three random held-out digits.

  Each channel is classified on its own (what the evaluator does for 3-channel digits), so
  classifying the 500 digits once and stacking their predictions is the same computation.
  """
  import ml_collections
  import numpy as np

  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics import digits, scores
  resolved = data_dir_of(ml_collections.ConfigDict({'data_dir': data_dir}))
  classifier = digits.load_digit_classifier(resolved)
  _, _, test_x, test_y = digits.load_offline_digits(resolved)
  picks = np.random.default_rng(seed).integers(0, len(test_x), (STACKED_SAMPLES, 3))
  predicted = scores.stacked_modes(classifier.predict(test_x)[picks])
  true = scores.stacked_modes(test_y[picks])
  return {'num_samples': STACKED_SAMPLES, 'real_digits_classified': predicted,
          'real_digits_true_labels': true}


def markdown(results: dict) -> str:
  header = '| variant | steps | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |'
  lines = [header, '|' + '---|' * (len(COLUMNS) + 2)]

  def row(label, steps, values):
    cells = []
    for key, _, fmt in COLUMNS:
      value = values.get(key)
      cell = fmt.format(value) if value is not None else '–'
      if key == 'kid' and 'kid_std' in values:
        cell += f' ± {values["kid_std"]:.2f}'
      cells.append(cell)
    return f'| {label} | {steps} | ' + ' | '.join(cells) + ' |'

  for v in results['variants']:
    lines.append(row(f'**{v["name"]}**: {v["description"]}', v['steps'], v['metrics']))
  for name, values in results['references'].items():
    lines.append(row(f'*{REFERENCE_LABELS.get(name, name)}*', '', values))
  info = results['evaluation']
  notes = [
      '',
      f'{info["num_samples"]} generated samples (fixed noise) against the {info["num_real"]} held-out '
      f'digits of offline_mnist, in the features of the digit network (held-out accuracy '
      f'{info["classifier_test_accuracy"]:.1%}). The reference rows score {info["num_samples"]} real '
      'train digits (the floor: what a generator that reproduces the data would get with these '
      'sample counts), the same digits blurred, and Gaussian noise. KID is ± its standard deviation '
      f'over 100 subsets; precision/recall use k=3, density/coverage k=5. Budget: batch 64, '
      'the steps shown (each config\'s own schedule). '
      f'Machine: {results["machine"]}.',
      '',
      f'Command: `{results["command"]}`',
  ]
  stacked = results.get('stacked_mnist_reference')
  if stacked:
    got, true = stacked['real_digits_classified'], stacked['real_digits_true_labels']
    notes += ['', f'Stacked-MNIST reference ({stacked["num_samples"]:,} stacks of three held-out '
              f'digits, each channel classified): {got["stacked_modes"]:.0f} of 1,000 modes, KL to '
              f'uniform {got["stacked_kl"]:.3f} (with the true labels: {true["stacked_modes"]:.0f} modes, '
              f'KL {true["stacked_kl"]:.3f}).']
  return '\n'.join(lines + notes) + '\n'


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--only', default='', help='comma-separated variant names (default: all)')
  parser.add_argument('--steps', type=int, default=0,
                      help='override every budget (a quick look; results are then not written)')
  parser.add_argument('--data_dir', default='', help='TFDS data dir (default: TFDS_DATA_DIR or ~/tensorflow_datasets)')
  parser.add_argument('--fresh', action='store_true', help='delete the workdirs and train from scratch')
  args = parser.parse_args(argv)
  chosen = [v for v in VARIANTS if not args.only or v.name in args.only.split(',')]
  unknown = set(filter(None, args.only.split(','))) - {v.name for v in VARIANTS}
  if unknown:
    print(f'error: unknown variant(s) {", ".join(sorted(unknown))}; '
          f'choose from {", ".join(v.name for v in VARIANTS)}', file=sys.stderr)
    return 2

  import jax
  runs = [run_variant(v, args.steps or v.steps, args.data_dir, args.fresh, bool(args.steps))
          for v in chosen]
  references = runs[0]['references']
  for run in runs[1:]:  # same seed, data and sample count: the references must agree
    assert run['references'] == references, 'reference points differ between variants'
  info = runs[0]['info']
  command = 'python benchmarks/quality.py' + (f' --only={args.only}' if args.only else '')
  results = {
      'command': command,
      'machine': f'{platform.machine()} CPU, {os.cpu_count()} cores, jax {jax.__version__} '
                 f'({jax.default_backend()})',
      'evaluation': {k: info[k] for k in ('dataset', 'eval_split', 'feature_net', 'num_samples',
                                          'num_real', 'classifier_test_accuracy') if k in info},
      'references': references,
      'stacked_mnist_reference': stacked_mnist_reference(args.data_dir),
      'variants': [{k: v for k, v in r.items() if k not in ('references', 'info', 'sample_grid')}
                   for r in runs],
  }
  table = markdown(results)
  print(table)
  if args.steps:
    print('(--steps given: a quick look, results/ left as it is)')
    return 0
  os.makedirs(RESULTS, exist_ok=True)
  if args.only:  # keep the other variants' rows from the last full run
    path = os.path.join(RESULTS, 'quality.json')
    if os.path.exists(path):
      with open(path) as f:
        previous = json.load(f)
      kept = [v for v in previous['variants'] if v['name'] not in {r['name'] for r in runs}]
      order = [v.name for v in VARIANTS]
      results['variants'] = sorted(kept + results['variants'],
                                   key=lambda v: order.index(v['name']) if v['name'] in order else len(order))
      results['command'] = 'python benchmarks/quality.py'
      table = markdown(results)
  with open(os.path.join(RESULTS, 'quality.json'), 'w') as f:
    json.dump(results, f, indent=2)
  with open(os.path.join(RESULTS, 'quality.md'), 'w') as f:
    f.write(table)
  for run in runs:
    if os.path.exists(run['sample_grid']):
      shutil.copyfile(run['sample_grid'], os.path.join(RESULTS, f'quality_{run["name"]}.png'))
  print(f'written: {RESULTS}/quality.json, quality.md, quality_<name>.png')
  return 0


if __name__ == '__main__':
  sys.exit(main())
