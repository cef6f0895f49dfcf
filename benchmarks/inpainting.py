"""Inpainting benchmark: DeepFill v2 (configs/inpainting.py) trained offline on CPU, scored on
held-out picture crops next to its baselines and the published figures, plus speed rows
against the PyTorch original.

  python benchmarks/inpainting.py [--steps=inpainting=5000] [--skip_speed] [--repeats=10]
  python benchmarks/inpainting.py --rescore --skip_speed   # re-evaluate kept workdirs only

Quality: each named model (MODELS: the shipped config, and the plain gated net without
contextual attention) is trained through the loop (`jaxgan.train.run`) and evaluated with
`jaxgan.evaluate.evaluate_run` (the 'inpainting' evaluator): L1 / L2 / PSNR / SSIM over the
image and inside the hole, total variation, on the 400 held-out crops of
offline_picture_crops (four pictures no training crop comes from) with free-form masks drawn
from eval.mask_seed, and the same scores of mean-colour fill and scikit-image's biharmonic
inpainting on the same holes. The final preview grid (held-out crops: input with the hole
white | coarse stage | output | original) is copied beside the results.
Speed: one training step (G forward, D update, G update) of the shipped config, jaxgan
(jitted) against the PyTorch original (benchmarks/torch_originals/inpainting.py, eager), same
nets, batch and masks; rounds interleave the two, and the table reports the medians and the
median of the per-round ratios. Contextual attention alone (forward) likewise.
Writes benchmarks/results/inpainting.{json,md} and inpainting_*.png.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'inpainting')
CONFIG = 'configs/inpainting.py'
MODELS = {'inpainting': (),
          'inpainting_no_attention': ('model.contextual_attention=False',),
          # The nets learn a correction to an in-graph biharmonic fill, in units of each image's
          # contrast, from augmented pictures, judged by the hole's PSNR, with a light
          # adversarial term and the reference's rates (README).
          'inpainting_biharmonic': ('model.prefill=biharmonic', 'model.contrast_normalise=True',
                                    'inpainting.augment=True', 'inpainting.hole_psnr_weight=1.0',
                                    'inpainting.hole_psnr_floor=1e-4', 'inpainting.gan_weight=0.1',
                                    'optim.g_lr=3e-4', 'optim.d_lr=1e-4',
                                    'optim.schedule=linear_decay')}
# open-mmlab/mmagic's DeepFill v2 at 256x256 (ANCHORS.md): l1 error (0-255 pixel units) /
# PSNR / SSIM. Different data and resolution: a frame of reference, not a target.
PUBLISHED = [('mmagic DeepFill v2, free-form, CelebA-HQ 256x256', 5.411, 25.721, 0.871),
             ('mmagic DeepFill v2, free-form, Places365 256x256', 8.635, 22.398, 0.815),
             ('mmagic DeepFill v1, box, CelebA-HQ 256x256', 6.677, 26.878, 0.911)]


def train_and_evaluate(name: str, steps: int):
  from jaxgan import config as config_lib
  from jaxgan import train
  from jaxgan.evaluate import evaluate_run
  config = config_lib.load_config_file(os.path.join(ROOT, CONFIG))
  eval_every = min(1000, max(steps // 4, 1))   # at least four points on the curve
  overrides = [*MODELS[name], f'train.num_steps={steps}', 'train.progress_bar=no',
               f'train.sample_every_steps={steps}', f'train.checkpoint_every_steps={steps}',
               f'eval.every_steps={eval_every}']
  config_lib.apply_overrides(config, overrides)
  workdir = os.path.join(WORK, name)
  shutil.rmtree(workdir, ignore_errors=True)
  start = time.time()
  final = train.run(config, workdir)
  seconds = time.time() - start
  step, metrics, references, info = evaluate_run(workdir, config=config)
  if step != steps:
    raise SystemExit(f'{name}: the run stopped at step {step} of {steps}; not reporting it')
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:   # the evaluations during training
    curve = [{k: r[k] for k in ('step', 'l1_hole', 'psnr_hole', 'ssim_hole')}
             for r in map(json.loads, f) if 'psnr_hole' in r]
  grid = f'inpainting_{name}.png'
  shutil.copy(os.path.join(workdir, 'samples', f'step_{steps}.png'), os.path.join(RESULTS, grid))
  command = ' '.join([f'python launch.py --config={CONFIG} --workdir=DIR',
                      f'--config.train.num_steps={steps}'] + [f'--config.{o}' for o in MODELS[name]])
  return {'config': CONFIG, 'command': command, 'steps': step,
          'batch_size': config.train.batch_size, 'dataset': config.data.name,
          'mask': config.data.mask, 'train_seconds': seconds, 'final_train_metrics': final,
          'metrics': metrics, 'references': references, 'info': info, 'grid': grid,
          'curve': curve}


def speed_rows(repeats: int, torch_threads: int, steps_per_round: int = 3):
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch

  from benchmarks.torch_originals import inpainting as original
  from jaxgan import config as config_lib
  from jaxgan.architectures.inpainting import contextual_attention
  from jaxgan.data.images import DatasetInfo
  from jaxgan.trainers import make_trainer

  if torch_threads:
    torch.set_num_threads(torch_threads)
  config = config_lib.load_config_file(os.path.join(ROOT, CONFIG))
  size, batch = 64, config.train.batch_size
  trainer = make_trainer(config, DatasetInfo('speed', (size, size, 3), 0, batch))
  images = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
  batch_j = {'image': jnp.asarray(images)[None]}
  key = jax.random.PRNGKey(1)
  masks = np.asarray(trainer.masks(key, batch))   # the masks the jaxgan step draws
  state = trainer.init(jax.random.PRNGKey(0), batch_j)
  step = jax.jit(trainer.make_step(), donate_argnums=0)
  holder = {'state': state}

  def jax_step():
    holder['state'], metrics = step(holder['state'], batch_j, key)
    jax.block_until_ready(metrics)

  model = original.TorchDeepFill.from_config(config, 3)
  image_t = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
  mask_t = torch.from_numpy(np.ascontiguousarray(masks.transpose(0, 3, 1, 2)))

  # Contextual attention alone, on the refinement branch's features (1/4 of the image side).
  side, channels = size // 4, 2 * config.model.channels
  features = np.random.default_rng(1).normal(size=(batch, side, side, channels)).astype(np.float32)
  small_masks = masks[:, ::4, ::4]
  attend = jax.jit(lambda f, m: contextual_attention(f, f, m)[0])
  f_j, m_j = jnp.asarray(features), jnp.asarray(small_masks)
  f_t = torch.from_numpy(np.ascontiguousarray(features.transpose(0, 3, 1, 2)))
  m_t = torch.from_numpy(np.ascontiguousarray(small_masks.transpose(0, 3, 1, 2)))

  def torch_attend():
    with torch.no_grad():
      original.contextual_attention(f_t, f_t, m_t)

  rows = []
  for row, nets, jax_fn, torch_fn in (
      ('training step', f'DeepFill v2 G (cnum {config.model.channels}, attention) + SN-PatchGAN '
       f'({config.model.d_features}, {config.model.d_layers} layers)', jax_step,
       lambda: model.optimize_parameters(image_t, mask_t)),
      ('contextual attention forward', f'{side}x{side}x{channels} features, rate 2', 
       lambda: jax.block_until_ready(attend(f_j, m_j)), torch_attend)):
    for fn in (jax_fn, torch_fn):   # warm-up (compiles the jaxgan side)
      fn()
      fn()
    jax_times, torch_times = [], []
    for r in range(repeats):
      order = ((jax_fn, jax_times), (torch_fn, torch_times))
      for fn, times in (order if r % 2 == 0 else order[::-1]):
        start = time.perf_counter()
        for _ in range(steps_per_round):
          fn()
        times.append((time.perf_counter() - start) / steps_per_round)
    ratios = [t / j for j, t in zip(jax_times, torch_times)]
    rows.append({'row': row, 'nets': nets, 'batch': batch, 'size': size,
                 'jax_ms': 1e3 * statistics.median(jax_times),
                 'torch_ms': 1e3 * statistics.median(torch_times),
                 'speedup': statistics.median(ratios), 'repeats': repeats})
  return rows


def _fmt(value, digits=4):
  return '' if value is None else f'{value:.{digits}f}'


def markdown(results) -> str:
  metrics = ('l1_hole', 'psnr_hole', 'ssim_hole', 'l1', 'psnr', 'ssim', 'tv')
  lines = ['# Inpainting (DeepFill v2), offline on CPU', '',
           f'Machine: {results["machine"]}. Each row trained once (seed 0): the shipped '
           'config with its overrides; '
           'scored by the `inpainting` evaluator (`python -m jaxgan.evaluate --workdir=DIR`) '
           'on the 400 held-out crops of offline_picture_crops (64x64, from four pictures no '
           'training crop comes from), free-form masks from eval.mask_seed=0. Intensities in '
           '[0, 1]; `_hole` scores count hole pixels only.', '']
  for name, run in results['quality'].items():
    refs = run['references']
    lines += [f'## {name}: {run["steps"]} steps of batch {run["batch_size"]} '
              f'({run["train_seconds"] / 60:.0f} min training), hole fraction '
              f'{run["metrics"]["hole_fraction"]:.3f}', '',
              f'`{run["command"]}`, then `python -m jaxgan.evaluate --workdir=DIR`', '',
              '| fill | ' + ' | '.join(metrics) + ' |', '|---' * (len(metrics) + 1) + '|']
    in_graph = ([('biharmonic in the graph (the prefill alone, untrained)',
                  refs['biharmonic_in_graph'])] if 'biharmonic_in_graph' in refs else [])
    for label, values in ((f'jaxgan {name}', run['metrics']), *in_graph,
                          ('biharmonic (scikit-image)', refs.get('biharmonic', {})),
                          ('mean colour', refs.get('mean_fill', {})),
                          ('original (tv only)', refs.get('original', {}))):
      lines.append(f'| {label} | ' + ' | '.join(_fmt(values.get(m)) for m in metrics) + ' |')
    if run.get('curve'):
      lines += ['', 'During training (the same evaluator): ' + ', '.join(
          f'step {c["step"]}: {c["psnr_hole"]:.2f} dB / L1 {c["l1_hole"]:.4f}'
          for c in run['curve']) + ' in the hole.']
    lines += ['', f'![{name}: input | coarse | output | original]({run["grid"]})', '']
  lines += ['## Published figures (different data and resolution)', '',
            '| model | l1 error (0-255) | PSNR | SSIM |', '|---|---|---|---|']
  for label, l1, psnr, ssim in PUBLISHED:
    lines.append(f'| {label} | {l1} | {psnr} | {ssim} |')
  for name, run in results['quality'].items():
    m = run['metrics']
    lines.append(f'| jaxgan {name}, offline_picture_crops 64x64 (whole image; hole only) | '
                 f'{255 * m["l1"]:.3f}; {255 * m["l1_hole"]:.3f} | {m["psnr"]:.3f}; '
                 f'{m["psnr_hole"]:.3f} | {m["ssim"]:.3f}; {m["ssim_hole"]:.3f} |')
  lines.append('')
  if results.get('speed'):
    lines += ['## Speed: jaxgan (jit) vs the PyTorch original (eager, '
              f'{results.get("torch_threads") or "default"} thread(s)), side by side', '',
              'Rounds interleave the two; medians over rounds, the speed-up is the median of '
              'the per-round ratios.', '',
              '| row | nets | batch | size | jaxgan ms | PyTorch ms | speed-up |',
              '|---|---|---|---|---|---|---|']
    for r in results['speed']:
      lines.append(f'| {r["row"]} | {r["nets"]} | {r["batch"]} | {r["size"]} | '
                   f'{r["jax_ms"]:.1f} | {r["torch_ms"]:.1f} | {r["speedup"]:.2f}x |')
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument('--steps', default='inpainting=5000',
                      help=f'name=steps,... of {", ".join(MODELS)}')
  parser.add_argument('--skip_speed', action='store_true',
                      help='keep the speed rows of the results file')
  parser.add_argument('--rescore', action='store_true',
                      help='re-evaluate the rows whose workdirs are still under '
                           'benchmarks/results/tmp/inpainting, without training')
  parser.add_argument('--repeats', type=int, default=10)
  parser.add_argument('--torch_threads', type=int, default=0, help='0: PyTorch\'s default')
  args = parser.parse_args(argv)
  steps = dict((k, int(v)) for k, v in (item.split('=') for item in args.steps.split(',') if item))
  unknown = set(steps) - set(MODELS)
  if unknown:
    raise SystemExit(f'unknown model {sorted(unknown)[0]!r}; choose from {", ".join(MODELS)}')
  os.makedirs(WORK, exist_ok=True)
  path = os.path.join(RESULTS, 'inpainting.json')
  results = {'quality': {}, 'speed': []}
  if os.path.exists(path):   # rows not re-run are kept
    with open(path) as f:
      results = json.load(f)
  results['machine'] = f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs'
  if args.rescore:
    from jaxgan.evaluate import evaluate_run
    for name, run in results['quality'].items():
      if os.path.isdir(os.path.join(WORK, name)):
        step, run['metrics'], run['references'], run['info'] = evaluate_run(
            os.path.join(WORK, name))
        print(f'{name}: rescored at step {step}', flush=True)
  else:
    for name, n in steps.items():
      results['quality'][name] = train_and_evaluate(name, n)
      print(json.dumps({name: results['quality'][name]['metrics']}), flush=True)
  if not args.skip_speed:
    results['speed'] = speed_rows(args.repeats, args.torch_threads)
    results['torch_threads'] = args.torch_threads
  with open(path, 'w') as f:
    json.dump(results, f, indent=2, default=float)
  with open(os.path.join(RESULTS, 'inpainting.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
