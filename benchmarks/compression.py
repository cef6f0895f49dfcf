"""Compressed DCGANs on the offline digits: the teacher against distilled, pruned and int8
generators, in cost (parameters, MACs, bytes, latency) and in sample quality.

The teacher is configs/dcgan.py trained through the library's loop (`jaxgan.train.run`) for its
own schedule. From its final checkpoint:
  distill_w<F>   configs/distill_dcgan.py, a student of width F trained against the frozen
                 teacher, then exported alone (python -m jaxgan.compress --method=dense)
  prune_w<F>     configs/prune_dcgan.py, the teacher's generator channel-pruned to width F and
                 fine-tuned, then exported as the smaller dense net
  int8, int8_weights   python -m jaxgan.compress --method=int8 / int8_weights of the teacher
Every generator is scored as `python -m jaxgan.evaluate` scores a run, with the evaluators
'sample_quality' (2,000 samples from fixed noise against the 500 held-out digits, in the digit
network's features) and 'efficiency' (jaxgan/metrics/efficiency.py).

  python benchmarks/compression.py                    # the documented budget
  python benchmarks/compression.py --steps=50         # a quick look (not written to results/)

Workdirs live under benchmarks/results/tmp/compression/<name> (git-ignored); re-running resumes
each run or, when complete, only re-evaluates it. Writes benchmarks/results/compression.json and
compression.md.
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
WORK = os.path.join(RESULTS, 'tmp', 'compression')

# The documented budget. The teacher: configs/dcgan.py's own schedule (3,000 steps). The
# students train for a fifth of it and the pruned nets fine-tune for configs/prune_dcgan.py's own
# 500 steps: on this 2-core CPU a step costs about as much whatever G's width (D is the same),
# and the budget was what one session's CPU time allowed.
DISTILL_STEPS = 600
PRUNE_STEPS = 0          # 0: the config's own train.num_steps
WIDTHS = (32, 16)        # of the teacher's 64: half and a quarter of the channels
NUM_SAMPLES = 2000
MAC_BUDGET = 0.25        # the target: at most a quarter of the teacher's MACs ...
FD_TOLERANCE = 0.20      # ... with FD-digits within 20% of the teacher's


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str
  kind: str                         # 'teacher' | 'distill' | 'prune' | 'int8' | 'int8_weights'
  config: str = ''                  # experiment file (trained variants)
  steps: int = 0                    # 0: the config's own train.num_steps
  overrides: Tuple[str, ...] = ()
  description: str = ''


def variants(teacher_dir: str) -> List[Variant]:
  out = [Variant('teacher', 'teacher', 'configs/dcgan.py', description='DCGAN, width 64 (the teacher)')]
  for width in WIDTHS:
    out.append(Variant(f'distill_w{width}', 'distill', 'configs/distill_dcgan.py', DISTILL_STEPS,
                       (f'model.g_features={width}', f'distill.teacher_workdir={teacher_dir}'),
                       f'distilled student, width {width}'))
  for width in WIDTHS:
    out.append(Variant(f'prune_w{width}', 'prune', 'configs/prune_dcgan.py', PRUNE_STEPS,
                       (f'prune.g_features={width}', f'prune.source_workdir={teacher_dir}'),
                       f'L1 channel-pruned to width {width} ({1 - width / 64:.0%} of channels), '
                       'fine-tuned'))
  out.append(Variant('int8', 'int8', description='teacher, int8 weights and conv inputs '
                     '(4 calibration batches)'))
  out.append(Variant('int8_weights', 'int8_weights', description='teacher, int8 weights only'))
  return out


def make_config(variant: Variant, steps: int, data_dir: str):
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, variant.config))
  overrides = ['train.progress_bar=no'] + ([f'data.data_dir={data_dir}'] if data_dir else [])
  if variant.kind != 'teacher':   # the teacher keeps its config file's settings exactly
    steps = steps or variant.steps or config.train.num_steps
    every = max(1, min(250, steps))
    overrides += [f'train.num_steps={steps}', f'train.checkpoint_every_steps={every}',
                  f'train.sample_every_steps={every}']
  elif steps:
    overrides += [f'train.num_steps={steps}']
  config_lib.apply_overrides(config, overrides + list(variant.overrides))
  return config


def produce(variant: Variant, steps: int, data_dir: str, teacher_dir: str, quick: bool) -> Tuple[str, float]:
  """Trains and/or compresses `variant`; returns (the workdir to score, wall seconds)."""
  from jaxgan import train
  from jaxgan.compress import compress
  prefix = 'quick_' if quick else ''
  workdir = os.path.join(WORK, prefix + variant.name)
  start = time.time()
  if variant.kind in ('teacher', 'distill', 'prune'):
    config = make_config(variant, steps, data_dir)
    print(f'== {variant.name}: {variant.config}, {config.train.num_steps} steps, {workdir}', flush=True)
    train.run(config, workdir)
    if variant.kind == 'teacher':
      return workdir, time.time() - start
    scored = workdir + '_dense'
    method = 'dense'
    source = workdir
  else:
    scored, method, source = workdir, variant.kind, teacher_dir
  # A compressed run is written afresh from its source's newest checkpoint.
  if os.path.isdir(scored):
    shutil.rmtree(scored)
  print(f'== {variant.name}: compress --method={method} {source} -> {scored}', flush=True)
  compress(source, scored, method, calibration_batches=4)
  return scored, time.time() - start


def score(workdir: str, data_dir: str, with_references: bool) -> Tuple[dict, dict, dict]:
  from jaxgan.evaluate import evaluate_run
  overrides = ["eval.metrics=('sample_quality','efficiency')", f'eval.num_samples={NUM_SAMPLES}',
               f'eval.reference_points={with_references}']
  if data_dir:
    overrides.append(f'data.data_dir={data_dir}')
  _, metrics, references, info = evaluate_run(workdir, overrides)
  return metrics, references, info


COLUMNS = [('params', 'params', '{:,.0f}'), ('macs_per_image', 'MACs / image', '{:,.0f}'),
           ('macs_ratio', 'MACs vs teacher', '{:.1%}'), ('generator_bytes', 'bytes', '{:,.0f}'),
           ('latency_ms_b1', 'ms / image, batch 1', '{:.2f}'),
           ('latency_ms_b64', 'ms / image, batch 64', '{:.3f}'),
           ('fd_digits', 'FD-digits ↓', '{:.1f}'), ('fd_ratio', 'FD vs teacher', '{:+.0%}'),
           ('kid', 'KID ↓', '{:.2f}'), ('precision', 'precision ↑', '{:.3f}'),
           ('recall', 'recall ↑', '{:.3f}')]


def verdict(rows: List[dict]) -> str:
  hits = [r for r in rows[1:] if r['metrics']['macs_ratio'] <= MAC_BUDGET
          and r['metrics']['fd_ratio'] <= FD_TOLERANCE]
  if hits:
    names = ', '.join(f'{r["name"]} ({r["metrics"]["macs_ratio"]:.1%} of the MACs, FD-digits '
                      f'{r["metrics"]["fd_ratio"]:+.0%})' for r in hits)
    return f'At most {MAC_BUDGET:.0%} of the teacher\'s MACs with FD-digits within {FD_TOLERANCE:.0%}: {names}.'
  small = [r for r in rows[1:] if r['metrics']['macs_ratio'] <= MAC_BUDGET]
  closest = min(small, key=lambda r: r['metrics']['fd_ratio']) if small else None
  text = (f'No compressed generator reached at most {MAC_BUDGET:.0%} of the teacher\'s MACs with '
          f'FD-digits within {FD_TOLERANCE:.0%}.')
  if closest:
    text += (f' Closest: {closest["name"]} at {closest["metrics"]["macs_ratio"]:.1%} of the MACs, '
             f'FD-digits {closest["metrics"]["fd_ratio"]:+.0%}.')
  return text


def markdown(results: dict) -> str:
  lines = ['| variant | steps | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
           '|' + '---|' * (len(COLUMNS) + 2)]
  for row in results['variants']:
    cells = []
    for key, _, fmt in COLUMNS:
      value = row['metrics'].get(key)
      cells.append(fmt.format(value) if value is not None else '–')
    lines.append(f'| **{row["name"]}**: {row["description"]} | {row["steps"]} | ' + ' | '.join(cells) + ' |')
  floor = results['references'].get('floor', {})
  if floor:
    lines.append(f'| *real train digits (floor)* | | | | | | | | {floor["fd_digits"]:.1f} | | '
                 f'{floor["kid"]:.2f} | {floor["precision"]:.3f} | {floor["recall"]:.3f} |')
  info = results['evaluation']
  by_name = {row['name']: row['metrics'] for row in results['variants']}
  int8_note = []
  if 'int8' in by_name and 'teacher' in by_name:
    int8, teacher = by_name['int8'], by_name['teacher']
    int8_note = [
        '', f'int8 with int8 activations ran {int8["latency_ms_b64"] / teacher["latency_ms_b64"]:.1f}x '
        'the float teacher\'s time per image at batch 64 on this CPU: XLA:CPU runs these int8 '
        'convolutions far slower than float ones, so here only the weights pay (a quarter of '
        'the bytes). Its MAC count is '
        'higher than the float net\'s because XLA does not fold the int8 input\'s zero border '
        'into the convolution (the padded taps are counted) and quantizing adds elementwise ops.']
  notes = [
      '', results['verdict']] + int8_note + ['',
      f'{info["num_samples"]} generated samples (fixed noise) against the {info["num_real"]} '
      'held-out digits of offline_mnist, in the digit network\'s features (docs/evaluation.md). '
      'MACs: XLA\'s cost analysis of the compiled sampling program at batch 64, halved '
      '(elementwise ops count one flop each: about 1% here). Bytes: the generator\'s variables '
      'as flax msgpack. Latency: median of 20 compiled calls after a warm-up, per image. '
      'Steps: the teacher\'s schedule; students and fine-tuning from its final checkpoint '
      f'(distillation {DISTILL_STEPS} steps; pruning configs/prune_dcgan.py\'s own). '
      'Distillation: configs/distill_dcgan.py as it stands (L1 to the teacher\'s image, weight '
      '10; 1x1-mapped features, weight 0.01; a fresh discriminator, see that file). Pruning '
      'starts from the teacher\'s own weights, distillation from random ones. '
      f'Machine: {results["machine"]} (shared with other work while it ran, so latencies are noisy).',
      '',
      'GAN Compression (Li et al. 2020) for scale: CycleGAN horse->zebra 11.4 M params / 56.8 G '
      'MACs / FID 65.75 -> 0.342 M / 2.67 G (4.7% of the MACs) / FID 65.33; pix2pix edges->shoes '
      'FID 24.12 -> 26.60 at 4.81 G MACs. Those are 256x256 image-to-image nets with a channel '
      'search; these are 28x28 DCGAN generators with fixed uniform widths.',
      '', f'Command: `{results["command"]}`', '',
      'The same by hand:', '',
      '```',
      'python launch.py --config=configs/dcgan.py --workdir=runs/teacher',
      'python launch.py --config=configs/distill_dcgan.py --workdir=runs/distill_w16 '
      f'--config.distill.teacher_workdir=runs/teacher --config.model.g_features=16 --config.train.num_steps={DISTILL_STEPS}',
      'python -m jaxgan.compress --workdir=runs/distill_w16 --out=runs/distill_w16_dense --method=dense',
      'python launch.py --config=configs/prune_dcgan.py --workdir=runs/prune_w16 '
      '--config.prune.source_workdir=runs/teacher --config.prune.g_features=16',
      'python -m jaxgan.compress --workdir=runs/prune_w16 --out=runs/prune_w16_dense --method=dense',
      'python -m jaxgan.compress --workdir=runs/teacher --out=runs/teacher_int8 --method=int8',
      "python -m jaxgan.evaluate --workdir=runs/teacher_int8 --config.eval.metrics=\"('sample_quality','efficiency')\"",
      '```',
  ]
  return '\n'.join(lines + notes) + '\n'


def rewrite_markdown() -> None:
  """compression.md again from compression.json (after a change to the table's layout)."""
  with open(os.path.join(RESULTS, 'compression.json')) as f:
    results = json.load(f)
  with open(os.path.join(RESULTS, 'compression.md'), 'w') as f:
    f.write(markdown(results))


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--only', default='', help='comma-separated variant names (the teacher always runs)')
  parser.add_argument('--steps', type=int, default=0,
                      help='override every budget (a quick look; results are then not written)')
  parser.add_argument('--data_dir', default='', help='TFDS data dir (default: TFDS_DATA_DIR or ~/tensorflow_datasets)')
  args = parser.parse_args(argv)
  quick = bool(args.steps)
  teacher_dir = os.path.join(WORK, ('quick_' if quick else '') + 'teacher')
  chosen = [v for v in variants(teacher_dir)
            if v.kind == 'teacher' or not args.only or v.name in args.only.split(',')]

  import jax
  rows, references, info = [], {}, {}
  for variant in chosen:
    workdir, wall = produce(variant, args.steps, args.data_dir, teacher_dir, quick)
    metrics, refs, evaluation = score(workdir, args.data_dir, with_references=variant.kind == 'teacher')
    references = references or refs
    info = info or evaluation
    with open(os.path.join(workdir, 'config.json')) as f:
      steps = json.load(f)['train']['num_steps']
    rows.append({'name': variant.name, 'kind': variant.kind, 'description': variant.description,
                 'config': variant.config, 'overrides': list(variant.overrides), 'steps': steps,
                 'workdir': os.path.relpath(workdir, ROOT), 'wall_seconds': round(wall, 1),
                 'metrics': metrics})
    print(f'   {variant.name}: ' + ', '.join(f'{k}={v:.4g}' for k, v in metrics.items()), flush=True)
  teacher = rows[0]['metrics']
  for row in rows:
    row['metrics']['macs_ratio'] = row['metrics']['macs_per_image'] / teacher['macs_per_image']
    row['metrics']['fd_ratio'] = row['metrics']['fd_digits'] / teacher['fd_digits'] - 1
  command = 'python benchmarks/compression.py' + (f' --only={args.only}' if args.only else '') + \
      (f' --steps={args.steps}' if args.steps else '')
  results = {
      'command': command,
      'machine': f'{platform.machine()} CPU, {os.cpu_count()} cores, jax {jax.__version__} '
                 f'({jax.default_backend()})',
      'evaluation': {k: info[k] for k in ('dataset', 'eval_split', 'feature_net', 'num_samples',
                                          'num_real', 'classifier_test_accuracy') if k in info},
      'references': references, 'verdict': verdict(rows), 'variants': rows,
  }
  table = markdown(results)
  print(table)
  if quick:
    print('(--steps given: a quick look, results/ left as it is)')
    return 0
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, 'compression.json'), 'w') as f:
    json.dump(results, f, indent=2)
  with open(os.path.join(RESULTS, 'compression.md'), 'w') as f:
    f.write(table)
  print(f'written: {RESULTS}/compression.json, compression.md')
  return 0


if __name__ == '__main__':
  sys.exit(main())
