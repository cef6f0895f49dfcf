"""Mode coverage on Stacked MNIST (1,000 modes), and ProGAN's sample quality per stage.

Part 1, Stacked MNIST (PacGAN's table): DCGAN, PacDCGAN2 (`model.pack=2`: D judges pairs)
and ProGAN on `offline_stacked_mnist` (three offline digits per image as RGB channels; ProGAN
at 32x32, zero-padded), each for several seeds, trained through the library's own loop
(`jaxgan.train.run`, what `launch.py` runs) for a CPU budget, then its final checkpoint scored
as `python -m jaxgan.evaluate` does: 26,000 samples, each channel classified by the digit
network, the modes hit (of 1,000) and the KL of the mode histogram to uniform. Published
(PacGAN, DCGAN-style nets, full MNIST, long training): DCGAN 99 modes / KL 3.40, PacDCGAN2
1000 / 0.06.

Part 2, ProGAN per stage: configs/progan.py on the single-channel digits at 32x32 (padded),
evaluated at the end of every phase (FD-digits and the other sample-quality scores, 2,000
samples against the 500 held-out digits), with the preview grid of every stage.

  python benchmarks/stacked_mnist.py                    # everything, the documented budget
  python benchmarks/stacked_mnist.py --only=dcgan --seeds=0 --steps=200   # a quick look

Workdirs: benchmarks/results/tmp/stacked_mnist/<variant>_seed<k> (git-ignored); re-running
resumes, or only re-evaluates finished runs (--fresh starts over). Writes
benchmarks/results/stacked_mnist.{json,md}, stacked_mnist_<variant>.png (seed 0's final
grid) and progan_stage_<resolution>.png.
"""
import argparse
import dataclasses
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from typing import List, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'stacked_mnist')
STACKED = ('data.name=offline_stacked_mnist',)
PUBLISHED = {'dcgan': (99, 3.40), 'pacdcgan2': (1000, 0.06)}   # PacGAN, Stacked MNIST


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str
  config: str
  steps: int
  overrides: Tuple[str, ...]
  description: str


# The CPU budget: DCGAN-sized nets at batch 64 for 2,000 generator steps (128,000 images,
# 4.3 epochs of the 30,000 train stacks; PacGAN trains far longer); ProGAN its own 450-step
# schedule (4 -> 32, 3,200 images a phase).
VARIANTS: List[Variant] = [
    Variant('dcgan', 'configs/dcgan.py', 2000, STACKED, 'DCGAN (pytorch/examples nets)'),
    Variant('pacdcgan2', 'configs/dcgan.py', 2000, STACKED + ('model.pack=2',),
            'PacDCGAN2: the same nets, D judges 2 samples at once'),
    Variant('progan', 'configs/progan.py', 0, STACKED,
            'ProGAN 4 -> 32 (configs/progan.py, padded to 32x32)'),
]
SEEDS = (0, 1, 2)
NUM_SAMPLES = 2000   # for the sample-quality scores beside the mode count


def make_config(config_file: str, steps: int, seed: int, overrides: Sequence[str],
                data_dir: str, eval_every: int = 0):
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, config_file))
  steps = steps or config.train.num_steps
  config_lib.apply_overrides(config, [
      f'seed={seed}', f'train.num_steps={steps}', f'eval.every_steps={eval_every}',
      f'eval.num_samples={NUM_SAMPLES}', f'train.checkpoint_every_steps={max(1, steps // 4)}',
      f'train.sample_every_steps={max(1, steps // 4)}', 'train.log_every_steps=100',
      'train.progress_bar=no', 'eval.reference_points=False',
  ] + ([f'data.data_dir={data_dir}'] if data_dir else []) + list(overrides))
  return config


def _records(workdir: str) -> List[dict]:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def train_and_score(name: str, config, fresh: bool) -> dict:
  from jaxgan import train
  from jaxgan.evaluate import evaluate_run
  workdir = os.path.join(WORK, name)
  if fresh and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  print(f'== {name}: {config.train.num_steps} steps, workdir {workdir}', flush=True)
  start = time.time()
  train.run(config, workdir)
  wall = time.time() - start
  step, metrics, _, _ = evaluate_run(workdir, config=config)
  if step < config.train.num_steps:   # stopped on request (SIGTERM, Ctrl-C): stop here too
    raise SystemExit(f'{name} stopped at step {step} of {config.train.num_steps}; re-run the '
                     'same command to resume')
  return {'name': name, 'step': step, 'seed': config.seed, 'wall_seconds_last_session': round(wall, 1),
          'metrics': metrics, 'workdir': workdir}


def summarise(runs: List[dict], key: str):
  values = [r['metrics'][key] for r in runs]
  return {'median': statistics.median(values), 'min': min(values), 'max': max(values),
          'values': values}


def stage_of(step: int, spans) -> str:
  from jaxgan.train import span_of_state
  return span_of_state(spans, step).phase.name


def progan_stages(data_dir: str, fresh: bool, steps: int, quick: bool) -> dict:
  """configs/progan.py on the single-channel digits, scored at the end of every phase."""
  from jaxgan import train
  config = make_config('configs/progan.py', steps, 0, (), data_dir)
  spans = train.build(config).spans
  ends = [s.end for s in spans[:-1]] + [config.train.num_steps]
  ends = [e for e in ends if e <= config.train.num_steps]
  every = math.gcd(*ends)
  with config.unlocked():   # evaluate (and keep a preview) at every phase end
    config.eval.every_steps = every
    config.train.sample_every_steps = every
  workdir = os.path.join(WORK, 'quick_progan_digits' if quick else 'progan_digits')
  if fresh and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  print(f'== progan_digits: {config.train.num_steps} steps, evaluated at {ends}', flush=True)
  start = time.time()
  train.run(config, workdir)
  wall = time.time() - start
  if not os.path.isdir(os.path.join(workdir, 'checkpoints', str(config.train.num_steps))):
    raise SystemExit('progan_digits stopped before its last step; re-run the same command to resume')
  by_step = {r['step']: r for r in _records(workdir) if 'fd_digits' in r}
  stages = []
  for end in ends:
    if end in by_step:
      record = by_step[end]
      stages.append({'step': end, 'phase': stage_of(end, spans),
                     **{k: record[k] for k in ('fd_digits', 'kid', 'precision', 'recall',
                                               'classes_covered', 'class_kl') if k in record},
                     'grid': os.path.join(workdir, 'samples', f'step_{end}.png')})
  return {'config': 'configs/progan.py', 'steps': config.train.num_steps,
          'wall_seconds_last_session': round(wall, 1), 'stages': stages}


def markdown(results: dict) -> str:
  lines = ['| variant | steps | seeds | modes (of 1,000) ↑ | KL to uniform ↓ | FD-digits (3 ch) ↓ | published modes / KL |',
           '|---|---|---|---|---|---|---|']
  for v in results['variants']:
    modes, kl, fd = v['stacked_modes'], v['stacked_kl'], v['fd_digits']
    published = PUBLISHED.get(v['name'])
    lines.append(
        f'| **{v["name"]}**: {v["description"]} | {v["steps"]:,} | {len(modes["values"])} | '
        f'{modes["median"]:.0f} ({modes["min"]:.0f}-{modes["max"]:.0f}) | '
        f'{kl["median"]:.2f} ({kl["min"]:.2f}-{kl["max"]:.2f}) | '
        f'{fd["median"]:.1f} ({fd["min"]:.1f}-{fd["max"]:.1f}) | '
        + (f'{published[0]} / {published[1]:.2f}' if published else '–') + ' |')
  ref = results.get('real_reference')
  lines += ['', 'Median over seeds (range in brackets); 26,000 samples per run, each channel '
            'classified by the digit network.']
  if ref:
    lines[-1] += (f' Real held-out stacks score {ref["stacked_modes"]:.0f} modes, KL '
                  f'{ref["stacked_kl"]:.3f} with the same count.')
  lines += ['Published figures: PacGAN (Lin et al. 2018), full MNIST, long training; these runs '
            'use 4,500 offline digits and a CPU budget.', '']
  stages = results.get('progan_stages')
  if stages:
    lines += [f'ProGAN per stage on the single-channel digits at 32x32 (`{stages["config"]}`, '
              f'{stages["steps"]} steps, seed 0), scored at the end of each phase:', '',
              '| phase | step | FD-digits ↓ | KID ↓ | precision ↑ | recall ↑ | classes |',
              '|---|---|---|---|---|---|---|']
    for s in stages['stages']:
      lines.append(f'| {s["phase"]} | {s["step"]} | {s["fd_digits"]:.1f} | {s["kid"]:.2f} | '
                   f'{s["precision"]:.3f} | {s["recall"]:.3f} | {s["classes_covered"]:.0f} |')
    lines.append('')
  lines += [f'Machine: {results["machine"]}. Command: `{results["command"]}`']
  return '\n'.join(lines) + '\n'


def real_reference(data_dir: str, num: int = 26_000) -> dict:
  """Modes of `num` fresh stacks of three held-out digits (offline_mnist's test split), each
  channel classified by the digit network: what a generator of the real distribution scores."""
  import ml_collections
  from jaxgan.data import stacked_mnist
  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics import digits, scores
  classifier = digits.load_digit_classifier(
      data_dir_of(ml_collections.ConfigDict({'data_dir': data_dir})))
  _, (test_x, test_y) = stacked_mnist.offline_digits()
  predicted = classifier.predict(test_x)
  _, _, _, index = stacked_mnist.stack_digits(test_x, test_y, num, seed=0)
  return scores.stacked_modes(predicted[index])


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--only', default='', help='comma-separated variants (dcgan, pacdcgan2, '
                      'progan, progan_stages); default: all')
  parser.add_argument('--seeds', default=','.join(map(str, SEEDS)))
  parser.add_argument('--steps', type=int, default=0,
                      help='override every budget (a quick look; results are then not written)')
  parser.add_argument('--data_dir', default='')
  parser.add_argument('--fresh', action='store_true')
  args = parser.parse_args(argv)
  names = [n for n in args.only.split(',') if n]
  known = [v.name for v in VARIANTS] + ['progan_stages']
  if set(names) - set(known):
    print(f'error: unknown variant(s) {", ".join(sorted(set(names) - set(known)))}; choose from '
          f'{", ".join(known)}', file=sys.stderr)
    return 2
  seeds = [int(s) for s in args.seeds.split(',')]
  quick = bool(args.steps)

  import jax
  chosen = [v for v in VARIANTS if not names or v.name in names]
  want_stages = not names or 'progan_stages' in names
  runs = {v.name: [] for v in chosen}
  stages = None
  # Seed-major, with the results written after every round: a long session has every variant
  # (and the per-stage table, after the first round) early, and more seeds as time allows.
  for round_index, seed in enumerate(seeds):
    for variant in chosen:
      config = make_config(variant.config, args.steps or variant.steps, seed, variant.overrides,
                           args.data_dir)
      tag = f'{"quick_" if quick else ""}{variant.name}_seed{seed}'
      runs[variant.name].append(train_and_score(tag, config, args.fresh))
    if round_index == 0 and want_stages:
      stages = progan_stages(args.data_dir, args.fresh, args.steps, quick)
    write_results(args, names, quick, seeds[:round_index + 1], chosen, runs, stages, jax)
  if not seeds and want_stages:
    write_results(args, names, quick, [], chosen, runs,
                  progan_stages(args.data_dir, args.fresh, args.steps, quick), jax)
  return 0


def write_results(args, names, quick, seeds_done, chosen, runs, stages, jax) -> None:
  variants = [{'name': v.name, 'description': v.description, 'config': v.config,
               'overrides': list(v.overrides), 'steps': runs[v.name][0]['step'],
               'runs': runs[v.name],
               **{k: summarise(runs[v.name], k) for k in ('stacked_modes', 'stacked_kl', 'fd_digits')}}
              for v in chosen if runs[v.name]]
  results = {
      'command': 'python benchmarks/stacked_mnist.py' + (f' --only={args.only}' if args.only else ''),
      'machine': f'{platform.machine()} CPU, {os.cpu_count()} cores, jax {jax.__version__} '
                 f'({jax.default_backend()})',
      'seeds': seeds_done, 'variants': variants, 'progan_stages': stages,
      'real_reference': real_reference(args.data_dir),
  }
  path = os.path.join(RESULTS, 'stacked_mnist.json')
  if names and not quick and os.path.exists(path):    # keep the parts not re-run
    with open(path) as f:
      previous = json.load(f)
    rerun = {v['name'] for v in variants}
    order = [v.name for v in VARIANTS]
    results['variants'] = sorted([v for v in previous['variants'] if v['name'] not in rerun]
                                 + variants, key=lambda v: order.index(v['name']))
    results['progan_stages'] = stages or previous.get('progan_stages')
    results['command'] = 'python benchmarks/stacked_mnist.py'
  table = markdown(results)
  print(table)
  if quick:
    print('(--steps given: a quick look, results/ left as it is)')
    return
  os.makedirs(RESULTS, exist_ok=True)
  with open(path, 'w') as f:
    json.dump(results, f, indent=2)
  with open(os.path.join(RESULTS, 'stacked_mnist.md'), 'w') as f:
    f.write(table)
  for v in variants:
    grid = os.path.join(v['runs'][0]['workdir'], 'samples', f'step_{v["steps"]}.png')
    if os.path.exists(grid):
      shutil.copyfile(grid, os.path.join(RESULTS, f'stacked_mnist_{v["name"]}.png'))
  for s in (stages or {}).get('stages', []):
    if os.path.exists(s['grid']):
      shutil.copyfile(s['grid'], os.path.join(RESULTS, f'progan_stage_{s["phase"]}.png'))
  print(f'written: {RESULTS}/stacked_mnist.json, stacked_mnist.md and the grids', flush=True)


if __name__ == '__main__':
  sys.exit(main())
