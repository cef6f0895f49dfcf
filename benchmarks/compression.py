"""Compressed generators against their teachers: cost (params, MACs, bytes, latency), quality.

DCGANs on the offline digits and pix2pix on offline_edges2textures: distilled, pruned and int8
generators of each.

DCGAN (--families=dcgan). The teacher is configs/dcgan.py trained through the library's loop
(`jaxgan.train.run`) for its own schedule. From its final checkpoint:
  distill_w<F>   configs/distill_dcgan.py, a student of width F trained against the frozen
                 teacher, then exported alone (python -m jaxgan.compress --method=dense)
  prune_w<F>     configs/prune_dcgan.py, the teacher's generator channel-pruned to width F and
                 fine-tuned, then exported as the smaller dense net
  int8, int8_weights   python -m jaxgan.compress --method=int8 / int8_weights of the teacher
Every generator is scored as `python -m jaxgan.evaluate` scores a run, with the evaluators
'sample_quality' (2,000 samples from fixed noise against the 500 held-out digits, in the digit
network's features) and 'efficiency' (jaxgan/metrics/efficiency.py).

Image-to-image (--families=image_to_image). The teacher is configs/pix2pix.py trained through
`jaxgan.train.run` with benchmarks/image_to_image.py's budget and overrides for its pix2pix row
(8,000 steps of batch 4 at 32x32). From it: pix2pix_int8_weights (`python -m jaxgan.compress
--method=int8_weights`), distill_w8 and distill_w4 (configs/distill_pix2pix.py, students of
width 8 and 4 of the teacher's 16 trained for the teacher's schedule, then exported with
`--method=dense`), two ablations of the width-4 student (distill_w4_ground_truth: L1 to the
ground truth instead of the teacher's translation; distill_w4_fresh_d: a fresh discriminator),
prune_w8 and prune_w4 (configs/prune_pix2pix.py: the teacher's U-Net L1 channel-pruned to those
widths and fine-tuned for the config's 2,000 steps, exported dense) and, as the control,
pix2pix_w4 (configs/pix2pix.py at width 4 trained from scratch for that schedule). The plain
students' final preview grids (input | student | teacher | target) are copied to
results/compression_distill_w<F>.png. For each: parameters and bytes of the generator's
variables as stored (int8 values and scales, or float32), MACs (XLA's cost analysis of the compiled translate at
batch 64) and latency per image of the jitted translate at batch 1 and 64, computed here as
the efficiency evaluator computes them for a sampling function; L1 / PSNR / SSIM against the
targets of the held-out pairs (`jaxgan.evaluate.evaluate_run`, the 'translation' evaluator);
and PSNR of its translations to the teacher's on the held-out inputs.

  python benchmarks/compression.py                    # both families, the documented budget
  python benchmarks/compression.py --families=image_to_image   # pix2pix only (~25 min)
  python benchmarks/compression.py --families=dcgan --only=int8  # DCGAN: teacher + int8
  python benchmarks/compression.py --steps=50         # a quick look (not written to results/)
  python benchmarks/compression.py --families=image_to_image --steps=20 --results_dir=/tmp/r
                                                      # a quick look, written to /tmp/r

Workdirs live under benchmarks/results/tmp/compression/<name> (git-ignored; quick looks under
quick_<name>); re-running resumes each trained run or, when complete, only re-evaluates it (a
compressed run is written afresh from its teacher). Writes benchmarks/results/compression.json
and compression.md (or those in --results_dir): the DCGAN table and, below it, the
image-to-image one. A family not run keeps its rows from the existing compression.json.
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
FAMILIES = ('dcgan', 'image_to_image')
# The image-to-image teacher: benchmarks/image_to_image.py's pix2pix row, i.e. its MODELS entry
# (imported below), the step count of its --steps default (pix2pix=8000) and the overrides its
# train_and_evaluate applies (mirrored in pix2pix_config).
PIX2PIX_STEPS = 8000
# Distilled students: configs/distill_pix2pix.py for the teacher's schedule, at half and a
# quarter of its width (ngf 16), so about a quarter and a sixteenth of its MACs.
DISTILL_PIX2PIX = 'configs/distill_pix2pix.py'
I2I_WIDTHS = (8, 4)
# Pruned nets: configs/prune_pix2pix.py to the same widths, fine-tuned for its own 2,000 steps
# (a quarter of the teacher's schedule).
PRUNE_PIX2PIX = 'configs/prune_pix2pix.py'
PRUNE_PIX2PIX_STEPS = 2000
# The recipe's two choices, each changed alone at the narrowest width: the ground truth as the
# L1 target (GAN Compression's choice for paired data; the config's is the teacher's
# translation) and a fresh discriminator (the config's starts from the teacher's).
I2I_ABLATIONS = (('ground_truth', ('distill.reconstruction_target=ground_truth',),
                  'L1 to the ground truth instead of the teacher'),
                 ('fresh_d', ('distill.init_discriminator=False',),
                  'a fresh discriminator instead of the teacher\'s'))
TRANSLATE_CHUNK = 50     # held-out images per translate call (the translation evaluator's)


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


# -- image-to-image: pix2pix, its int8 weights, distilled students and pruned nets ---------------

def pix2pix_config(steps: int, data_dir: str, config_file: str = '', extra=()):
  """configs/pix2pix.py (or `config_file`, e.g. configs/distill_pix2pix.py) with
  benchmarks/image_to_image.py's overrides for its pix2pix row, then `extra`."""
  from benchmarks.image_to_image import MODELS
  from jaxgan import config as config_lib
  teacher_file, model_overrides = MODELS['pix2pix']
  config_file = config_file or teacher_file
  config = config_lib.load_config_file(os.path.join(ROOT, config_file))
  config_lib.apply_overrides(config, [*model_overrides, f'train.num_steps={steps}',
                                      'train.progress_bar=no',
                                      f'train.sample_every_steps={steps}',
                                      f'train.checkpoint_every_steps={steps}', *extra] +
                             ([f'data.data_dir={data_dir}'] if data_dir else []))
  return config_file, list(model_overrides) + list(extra), config


def keep_preview(workdir: str, step: int, name: str) -> None:
  """Copies a run's final preview grid to results/compression_<name>.png (when it exists)."""
  source = os.path.join(workdir, 'samples', f'step_{step}.png')
  if os.path.exists(source) and not os.path.basename(workdir).startswith('quick_'):
    shutil.copy(source, os.path.join(RESULTS, f'compression_{name}.png'))


def stored_generator(state) -> dict:
  """The generator's variables as a checkpoint holds them: a float pix2pix state's g, or an
  int8 state's int8 kernels with their scales (the trainer's generator_variables dequantizes)."""
  if hasattr(state, 'g'):
    return {'params': state.g.params, 'batch_stats': state.g.batch_stats}
  return {'params': state.params, 'batch_stats': state.batch_stats}


def translation_costs(run, state, inputs) -> dict:
  """params, generator_bytes, flops/macs_per_image and latency_ms_b<B> of the run's
  translate_a_to_b, as the efficiency evaluator measures a sampling function."""
  import jax
  import numpy as np

  from jaxgan import parallel
  from jaxgan.metrics import efficiency
  translate = jax.jit(run.trainer.functions()['translate_a_to_b'])

  def batch_of(n):
    return parallel.replicate_host_array(np.asarray(inputs[np.arange(n) % len(inputs)], np.float32),
                                         run.mesh)
  variables = stored_generator(state)
  n = efficiency.FLOPS_BATCH
  flops = efficiency.compiled_flops(translate, state, batch_of(n)) / n
  out = {'params': float(efficiency.count_params(variables)),
         'generator_bytes': float(efficiency.serialized_bytes(variables)),
         'flops_per_image': flops, 'macs_per_image': flops / 2}
  for batch in efficiency.LATENCY_BATCH_SIZES:
    x = batch_of(batch)
    seconds = efficiency.median_call_seconds(lambda i: translate(state, x),
                                             efficiency.LATENCY_REPEATS)
    out[f'latency_ms_b{batch}'] = 1e3 * seconds / batch
  return out


def translations(run, state, inputs):
  """translate_a_to_b of `inputs` [N, H, W, C], in chunks as the translation evaluator runs it."""
  import jax

  from jaxgan import parallel
  translate = jax.jit(run.trainer.functions()['translate_a_to_b'],
                      out_shardings=parallel.replicated(run.mesh))
  return parallel.map_in_chunks(lambda x: translate(state, x), [inputs], run.mesh, TRANSLATE_CHUNK)


def run_image_to_image(steps: int, data_dir: str, quick: bool) -> dict:
  """Trains (or resumes) the pix2pix teacher, compresses it (int8 weights; distilled students
  of two widths and two ablations of the narrower, pruned nets of the same widths, each
  exported dense; the narrower width trained from scratch as a control) and measures each;
  returns the results' 'image_to_image' section (without command and machine)."""
  from jaxgan import train
  from jaxgan.compress import compress
  from jaxgan.evaluate import evaluate_run, load_run_config, restore_trained_state
  from jaxgan.metrics.translation import paired_scores
  prefix = 'quick_' if quick else ''
  workdir_of = lambda name: os.path.join(WORK, prefix + name)  # noqa: E731
  teacher_dir = workdir_of('pix2pix_teacher')
  num_steps = steps or PIX2PIX_STEPS
  prune_steps = steps or PRUNE_PIX2PIX_STEPS
  config_file, model_overrides, config = pix2pix_config(num_steps, data_dir)
  teacher_width = config.model.g_features
  walls = {}

  def trained(name, workdir, run_config, steps=num_steps):
    print(f'== {name}: {run_config.trainer}, {steps} steps, {workdir}', flush=True)
    start = time.time()
    train.run(run_config, workdir)
    walls[name] = time.time() - start

  def compressed(name, workdir, out, method):
    if os.path.isdir(out):   # written afresh from the newest checkpoint of `workdir`
      shutil.rmtree(out)
    print(f'== {name}: compress --method={method} {workdir} -> {out}', flush=True)
    start = time.time()
    compress(workdir, out, method)
    walls[name] = walls.get(name, 0.0) + time.time() - start

  trained('pix2pix', teacher_dir, config)
  # (name, kind, workdir scored, description, config file, overrides)
  specs = [('pix2pix', 'teacher', teacher_dir, f'pix2pix (U-Net, {config.model.unet_downs} '
            f'levels, ngf {teacher_width}; the teacher)', config_file, model_overrides)]
  compressed('pix2pix_int8_weights', teacher_dir, workdir_of('pix2pix_int8_weights'),
             'int8_weights')
  specs.append(('pix2pix_int8_weights', 'int8_weights', workdir_of('pix2pix_int8_weights'),
                'teacher, int8 weights only (one float scale per output channel)', '', []))
  width = min(I2I_WIDTHS)
  students = [(f'distill_w{w}', w, (), f'distilled student, ngf {w} (exported dense)')
              for w in I2I_WIDTHS] + [
      (f'distill_w{width}_{suffix}', width, extra, f'ngf {width}, {what}')
      for suffix, extra, what in I2I_ABLATIONS]
  for name, student_width, extra, description in students:
    distill_file, overrides, distill = pix2pix_config(
        num_steps, data_dir, DISTILL_PIX2PIX, (f'model.g_features={student_width}',
                                               f'distill.teacher_workdir={teacher_dir}', *extra))
    trained(name, workdir_of(name), distill)
    compressed(name, workdir_of(name), workdir_of(name + '_dense'), 'dense')
    specs.append((name, 'distill', workdir_of(name + '_dense'), description, distill_file,
                  overrides))
    if not extra:   # the preview grid of the plain students: input | student | teacher | target
      keep_preview(workdir_of(name), num_steps, name)
  for prune_width in I2I_WIDTHS:
    name = f'prune_w{prune_width}'
    prune_file, overrides, prune = pix2pix_config(
        prune_steps, data_dir, PRUNE_PIX2PIX, (f'prune.g_features={prune_width}',
                                               f'prune.source_workdir={teacher_dir}'))
    trained(name, workdir_of(name), prune, prune_steps)
    compressed(name, workdir_of(name), workdir_of(name + '_dense'), 'dense')
    specs.append((name, 'prune', workdir_of(name + '_dense'),
                  f'L1 channel-pruned to ngf {prune_width}, fine-tuned (exported dense)', prune_file,
                  overrides))
  name = f'pix2pix_w{width}'
  _, overrides, scratch = pix2pix_config(num_steps, data_dir, extra=(f'model.g_features={width}',))
  trained(name, workdir_of(name), scratch)
  specs.append((name, 'scratch', workdir_of(name), f'pix2pix, ngf {width}, trained from scratch '
                '(no teacher: the control)', config_file, overrides))

  data_overrides = [f'data.data_dir={data_dir}'] if data_dir else []
  launch = ' '.join([f'--config.{o}' for o in model_overrides] + [f'--config.train.num_steps={num_steps}'])
  rows, references, evaluation, outputs = [], {}, {}, {}
  inputs = None
  for name, kind, workdir, description, run_file, overrides in specs:
    run, state, step = restore_trained_state(load_run_config(workdir, data_overrides), workdir)
    if inputs is None:   # the held-out inputs the translation evaluator scores
      inputs = run.source.eval_arrays(config.eval.max_real_samples)['a']
    metrics = translation_costs(run, state, inputs)
    outputs[name] = translations(run, state, inputs)
    _, scores, refs, info = evaluate_run(workdir, data_overrides + [
        f'eval.reference_points={kind == "teacher"}'])
    metrics.update(scores)
    references = references or refs
    evaluation = evaluation or info
    if kind != 'teacher':
      to_teacher = paired_scores(outputs[name], outputs['pix2pix'])
      metrics['psnr_to_teacher'] = to_teacher['psnr']
      metrics['l1_to_teacher'] = to_teacher['l1']
    rows.append({'name': name, 'kind': kind, 'description': description, 'config': run_file,
                 'overrides': list(overrides), 'steps': step,
                 'workdir': os.path.relpath(workdir, ROOT), 'wall_seconds': round(walls[name], 1),
                 'metrics': metrics})
    print(f'   {name}: ' + ', '.join(f'{k}={v:.4g}' for k, v in metrics.items()), flush=True)
  teacher = rows[0]['metrics']
  for row in rows:
    row['metrics']['macs_ratio'] = row['metrics']['macs_per_image'] / teacher['macs_per_image']
    row['metrics']['bytes_ratio'] = row['metrics']['generator_bytes'] / teacher['generator_bytes']
  return {'teacher': {'config': config_file, 'steps': num_steps,
                      'batch_size': config.train.batch_size, 'dataset': config.data.name,
                      'image_size': config.data.image_size,
                      'launch': f'python launch.py --config={config_file} --workdir=DIR {launch}'},
          'evaluation': {k: evaluation[k] for k in ('dataset', 'eval_split', 'metrics',
                                                    'translation_examples_a') if k in evaluation},
          'references': references, 'variants': rows}


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


def table_lines(rows, columns) -> List[str]:
  """A Markdown table's header and one line per row: name, description and steps, then
  `columns` ((metric key, header, format) each; '–' where a row lacks the metric)."""
  lines = ['| variant | steps | ' + ' | '.join(h for _, h, _ in columns) + ' |',
           '|' + '---|' * (len(columns) + 2)]
  for row in rows:
    cells = [fmt.format(row['metrics'][key]) if row['metrics'].get(key) is not None else '–'
             for key, _, fmt in columns]
    lines.append(f'| **{row["name"]}**: {row["description"]} | {row["steps"]} | '
                 + ' | '.join(cells) + ' |')
  return lines


def dcgan_markdown(results: dict) -> str:
  lines = table_lines(results['variants'], COLUMNS)
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


I2I_COLUMNS = [('params', 'params', '{:,.0f}'), ('macs_per_image', 'MACs / image', '{:,.0f}'),
               ('macs_ratio', 'MACs vs teacher', '{:.1%}'), ('generator_bytes', 'bytes', '{:,.0f}'),
               ('bytes_ratio', 'bytes vs teacher', '{:.1%}'),
               ('latency_ms_b1', 'ms / image, batch 1', '{:.2f}'),
               ('latency_ms_b64', 'ms / image, batch 64', '{:.3f}'),
               ('l1', 'L1 ↓', '{:.4f}'), ('psnr', 'PSNR ↑', '{:.2f}'), ('ssim', 'SSIM ↑', '{:.4f}'),
               ('psnr_to_teacher', 'PSNR to teacher ↑', '{:.1f}')]


def image_to_image_markdown(section: dict) -> str:
  teacher, info = section['teacher'], section['evaluation']
  rows = section['variants']
  examples = info.get('translation_examples_a', '?')
  lines = [f'## Image-to-image: pix2pix on {teacher["dataset"]}, int8, distilled and pruned', '',
           f'The pix2pix teacher (`{teacher["config"]}` at {teacher["image_size"]}x'
           f'{teacher["image_size"]}, {teacher["steps"]} steps of batch {teacher["batch_size"]}, '
           'as benchmarks/image_to_image.py trains it) against the same generator with int8 '
           'weights (`python -m jaxgan.compress --method=int8_weights`: one float32 scale per '
           'output channel, dequantized whenever it translates), students distilled from it '
           f'(`{DISTILL_PIX2PIX}` for the same schedule, exported with `--method=dense`), its '
           f'U-Net channel-pruned to the same widths (`{PRUNE_PIX2PIX}`: filter L1 norm, '
           f'fine-tuned for {PRUNE_PIX2PIX_STEPS:,} steps, exported dense) and, as the '
           'control, a pix2pix of the narrowest student\'s width trained from scratch for the '
           f'same schedule. Each translates the {examples} held-out edge maps of the '
           f'{info.get("eval_split", "test")} split: L1 / PSNR / SSIM against their '
           'ground-truth targets (the `translation` evaluator, intensities in [0, 1]), and PSNR '
           'of its translations to the teacher\'s.', '',
           *table_lines(rows, I2I_COLUMNS)]
  base = section['references'].get('untranslated', {})
  if base:
    cells = (['*untranslated input (the edges copied)*', ''] + [''] * 7 +
             [f'{base["l1"]:.4f}', f'{base["psnr"]:.2f}', f'{base["ssim"]:.4f}', ''])
    lines.append('| ' + ' | '.join(cells) + ' |')
  by_kind = {row['kind']: row['metrics'] for row in rows}
  summary = []
  if 'teacher' in by_kind and 'int8_weights' in by_kind:
    t, q = by_kind['teacher'], by_kind['int8_weights']
    summary += ['', f'int8_weights keeps {q["bytes_ratio"]:.1%} of the teacher\'s bytes at '
                f'{q["macs_ratio"]:.1%} of its MACs; its translations are '
                f'{q["psnr_to_teacher"]:.1f} dB PSNR from the teacher\'s (mean |difference| '
                f'{q["l1_to_teacher"]:.2g} of the intensity range); against the targets its L1 '
                f'differs from the teacher\'s by {q["l1"] - t["l1"]:+.2g}, its PSNR by '
                f'{q["psnr"] - t["psnr"]:+.2g} dB and its SSIM by {q["ssim"] - t["ssim"]:+.2g}.']
  t = by_kind.get('teacher')
  for row in rows:
    if row['kind'] not in ('distill', 'prune', 'scratch') or t is None:
      continue
    m = row['metrics']
    summary += ['', f'{row["name"]}: {m["macs_ratio"]:.1%} of the teacher\'s MACs and '
                f'{m["bytes_ratio"]:.1%} of its bytes; PSNR {m["psnr"] - t["psnr"]:+.2f} dB and '
                f'SSIM {m["ssim"] - t["ssim"]:+.3f} against the teacher\'s on the targets, '
                f'{m["psnr_to_teacher"]:.1f} dB from the teacher\'s translations.']
  lines += summary + [
      '',
      'MACs: XLA\'s cost analysis of the compiled translate program (`translate_a_to_b`) at '
      'batch 64, halved (elementwise ops count one flop each; the int8 net\'s include '
      'dequantizing its kernels on every call). Params and bytes: the generator\'s variables as '
      'its checkpoint stores them (the int8 net: int8 kernels plus their scales; BatchNorm '
      'parameters and statistics float32), bytes as flax msgpack. Latency: median of 20 '
      'compiled calls on held-out inputs after a warm-up, per image. '
      'Distillation: GAN Compression\'s recipe for paired data as configs/distill_pix2pix.py '
      'sets it: the GAN loss through a discriminator started from the teacher\'s, L1 to the '
      'teacher\'s translation with weight 100, the MSE of every normalisation layer\'s output '
      'mapped by a learned 1x1 convolution to the teacher\'s, weight 1. The ablation rows '
      'change one choice each: the ground truth as the L1 target (GAN Compression\'s choice '
      'for paired data), or a fresh discriminator. '
      f'Machine: {section["machine"]} (shared with other work while it ran, so latencies are '
      'noisy).',
      '',
      'GAN Compression (Li et al. 2020) for context: pix2pix edges->shoes FID 24.12 -> 26.60 at '
      '4.81 G MACs; CycleGAN horse->zebra 56.8 G -> 2.67 G MACs (4.7%), FID 65.75 -> 65.33. '
      'Those are 256x256 generators made smaller by distillation and a channel search; these '
      'students have uniform widths. int8 weights alone cut only the bytes (the arithmetic '
      'stays float).',
      '', f'Command: `{section["command"]}`', '',
      'The same by hand:', '',
      '```',
      teacher['launch'].replace('DIR', 'runs/pix2pix'),
      'python -m jaxgan.compress --workdir=runs/pix2pix --out=runs/pix2pix_int8 --method=int8_weights',
      'python -m jaxgan.evaluate --workdir=runs/pix2pix_int8',
  ]
  if any(row['kind'] in ('distill', 'prune') for row in rows):
    width = min(I2I_WIDTHS)   # the narrowest student's and pruned net's commands
    lines += [
        f'python launch.py --config={DISTILL_PIX2PIX} --workdir=runs/distill_w{width} '
        f'--config.distill.teacher_workdir=runs/pix2pix --config.model.g_features={width} '
        f'--config.train.num_steps={teacher["steps"]}',
        f'python -m jaxgan.compress --workdir=runs/distill_w{width} '
        f'--out=runs/distill_w{width}_dense --method=dense',
        f'python -m jaxgan.evaluate --workdir=runs/distill_w{width}_dense',
        f'python launch.py --config={PRUNE_PIX2PIX} --workdir=runs/prune_w{width} '
        f'--config.prune.source_workdir=runs/pix2pix --config.prune.g_features={width}',
        f'python -m jaxgan.compress --workdir=runs/prune_w{width} '
        f'--out=runs/prune_w{width}_dense --method=dense']
  return '\n'.join(lines + ['```']) + '\n'


def markdown(results: dict) -> str:
  """compression.md: the DCGAN table, then the image-to-image one (each where present)."""
  parts = []
  if 'variants' in results:
    parts.append(dcgan_markdown(results))
  if 'image_to_image' in results:
    parts.append(image_to_image_markdown(results['image_to_image']))
  return '\n'.join(parts)


def rewrite_markdown(results_dir: str = RESULTS) -> None:
  """compression.md again from compression.json (after a change to the tables' layout)."""
  with open(os.path.join(results_dir, 'compression.json')) as f:
    results = json.load(f)
  with open(os.path.join(results_dir, 'compression.md'), 'w') as f:
    f.write(markdown(results))


def run_dcgan(args, quick: bool) -> dict:
  """The DCGAN rows: the results' top-level fields (without command)."""
  teacher_dir = os.path.join(WORK, ('quick_' if quick else '') + 'teacher')
  chosen = [v for v in variants(teacher_dir)
            if v.kind == 'teacher' or not args.only or v.name in args.only.split(',')]
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
  return {
      'machine': machine(),
      'evaluation': {k: info[k] for k in ('dataset', 'eval_split', 'feature_net', 'num_samples',
                                          'num_real', 'classifier_test_accuracy') if k in info},
      'references': references, 'verdict': verdict(rows), 'variants': rows,
  }


def machine() -> str:
  import jax
  return (f'{platform.machine()} CPU, {os.cpu_count()} cores, jax {jax.__version__} '
          f'({jax.default_backend()})')


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--families', default=','.join(FAMILIES),
                      help=f'comma-separated, of {", ".join(FAMILIES)}; a family not run keeps '
                      'its rows from the existing compression.json')
  parser.add_argument('--only', default='', help='DCGAN: comma-separated variant names (the '
                      'teacher always runs)')
  parser.add_argument('--steps', type=int, default=0,
                      help='override every budget (a quick look; results are then not written '
                      'unless --results_dir is given)')
  parser.add_argument('--results_dir', default='',
                      help=f'where compression.json and .md are read and written (default '
                      f'{os.path.relpath(RESULTS, ROOT)})')
  parser.add_argument('--data_dir', default='', help='TFDS data dir (default: TFDS_DATA_DIR or ~/tensorflow_datasets)')
  args = parser.parse_args(argv)
  families = [f for f in args.families.split(',') if f]
  unknown = sorted(set(families) - set(FAMILIES))
  if unknown or not families:
    parser.error(f'--families takes {", ".join(FAMILIES)}; got {args.families!r}')
  quick = bool(args.steps)
  write = not quick or bool(args.results_dir)
  results_dir = args.results_dir or RESULTS
  path = os.path.join(results_dir, 'compression.json')

  command = 'python benchmarks/compression.py' + \
      (f' --families={",".join(families)}' if set(families) != set(FAMILIES) else '') + \
      (f' --only={args.only}' if args.only and 'dcgan' in families else '') + \
      (f' --steps={args.steps}' if args.steps else '')
  results = {}
  if write and os.path.exists(path):   # the family not re-run keeps its rows
    with open(path) as f:
      results = json.load(f)
  if 'dcgan' in families:
    results.update({'command': command, **run_dcgan(args, quick)})
  if 'image_to_image' in families:
    section = run_image_to_image(args.steps, args.data_dir, quick)
    results['image_to_image'] = {'command': command, 'machine': machine(), **section}
  table = markdown(results)
  print(table)
  if not write:
    print('(--steps given: a quick look, results/ left as it is)')
    return 0
  os.makedirs(results_dir, exist_ok=True)
  with open(path, 'w') as f:
    json.dump(results, f, indent=2)
  with open(os.path.join(results_dir, 'compression.md'), 'w') as f:
    f.write(table)
  print(f'written: {results_dir}/compression.json, compression.md')
  return 0


if __name__ == '__main__':
  sys.exit(main())
