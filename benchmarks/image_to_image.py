"""Image-to-image benchmark: CycleGAN and pix2pix trained offline on CPU with the shipped
configs, scored against their baselines, plus speed rows against the PyTorch originals.

  python benchmarks/image_to_image.py [--steps=cyclegan=2000,cyclegan_inverted=2000,pix2pix=8000] [--skip_speed]

Quality: configs/cyclegan.py (offline_inverted_digits) and configs/pix2pix.py
(offline_edges2textures at 32x32) are trained through the loop (`jaxgan.train.run`) and
evaluated with `jaxgan.evaluate.evaluate_run` (the 'translation' evaluator): class kept and
cycle error against the untranslated input; L1 / PSNR / SSIM against copying the input. The
final sample grids (input | translation | cycle, or input | translation | target) are copied
beside the results.
Speed: one training step of each model and a PatchGAN forward+backward, jaxgan (jitted)
against the PyTorch originals (benchmarks/torch_originals/image_to_image.py, eager), same
nets and batch, median of timed repeats after warm-up.
Writes benchmarks/results/image_to_image.{json,md} and image_to_image_*.png.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'image_to_image')
# name -> (config file, overrides): the shipped configs, and CycleGAN on the inverted digits
# (where it keeps the cycle but not the class: see the results).
MODELS = {'cyclegan': ('configs/cyclegan.py', ()),
          'cyclegan_inverted': ('configs/cyclegan.py', ('data.name=offline_inverted_digits',)),
          'pix2pix': ('configs/pix2pix.py', ())}


def train_and_evaluate(name: str, steps: int, overrides=()):
  from jaxgan import config as config_lib
  from jaxgan import train
  from jaxgan.evaluate import evaluate_run
  config_file, model_overrides = MODELS[name]
  config = config_lib.load_config_file(os.path.join(ROOT, config_file))
  config_lib.apply_overrides(config, [*model_overrides, f'train.num_steps={steps}',
                                      'train.progress_bar=no',
                                      f'train.sample_every_steps={steps}',
                                      f'train.checkpoint_every_steps={steps}', *overrides])
  workdir = os.path.join(WORK, name)
  shutil.rmtree(workdir, ignore_errors=True)
  start = time.time()
  final = train.run(config, workdir)
  seconds = time.time() - start
  step, metrics, references, info = evaluate_run(workdir, config=config)
  grids = {}
  for preview in ('step', 'b_to_a_step'):
    source = os.path.join(workdir, 'samples', f'{preview}_{steps}.png')
    if os.path.exists(source):
      target = f'image_to_image_{name}{"_b_to_a" if preview.startswith("b_to_a") else ""}.png'
      shutil.copy(source, os.path.join(RESULTS, target))
      grids[preview] = target
  command = ' '.join([f'python launch.py --config={config_file} --workdir=DIR',
                      f'--config.train.num_steps={steps}'] +
                     [f'--config.{o}' for o in model_overrides + tuple(overrides)])
  return {'config': config_file, 'command': command, 'steps': step, 'batch_size': config.train.batch_size,
          'dataset': config.data.name, 'image_size': config.data.image_size,
          'train_seconds': seconds, 'final_train_metrics': final, 'metrics': metrics,
          'references': references, 'info': info, 'grids': grids}


def _median_seconds(fn, repeats: int, warmup: int = 2):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  times.sort()
  return times[len(times) // 2]


def speed_rows(repeats: int, torch_threads: int):
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch

  from benchmarks.torch_originals import image_to_image as originals
  from jaxgan import config as config_lib
  from jaxgan.data.translation import TranslationInfo
  from jaxgan.trainers import make_trainer

  torch.set_num_threads(torch_threads)
  rows = []
  for name, channels, paired in (('cyclegan', (1, 1), False), ('pix2pix', (1, 3), True)):
    config = config_lib.load_config_file(os.path.join(ROOT, MODELS[name][0]))
    size, batch = config.data.image_size, config.train.batch_size
    info = TranslationInfo('speed', (size, size, channels[0]), (size, size, channels[1]), 0,
                           batch, batch, paired)
    trainer = make_trainer(config, info)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (batch, size, size, channels[0])).astype(np.float32)
    b = rng.uniform(-1, 1, (batch, size, size, channels[1])).astype(np.float32)
    batch_j = {'a': jnp.asarray(a)[None], 'b': jnp.asarray(b)[None]}
    state = trainer.init(jax.random.PRNGKey(0), batch_j)
    step = jax.jit(trainer.make_step(), donate_argnums=0)
    holder = {'state': state}

    def jax_step():
      holder['state'], metrics = step(holder['state'], batch_j, jax.random.PRNGKey(1))
      jax.block_until_ready(metrics)

    model_cls = originals.TorchCycleGAN if name == 'cyclegan' else originals.TorchPix2Pix
    model = model_cls(config, channels[0], channels[1]).train()
    at, bt = (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))) for x in (a, b))
    jax_s = _median_seconds(jax_step, repeats)
    torch_s = _median_seconds(lambda: model.optimize_parameters(at, bt), repeats)
    nets = ('resnet generator x2 + PatchGAN x2' if name == 'cyclegan'
            else 'U-Net generator + conditional PatchGAN')
    rows.append({'row': f'{name} training step', 'nets': nets, 'batch': batch, 'size': size,
                 'jax_ms': 1e3 * jax_s, 'torch_ms': 1e3 * torch_s, 'speedup': torch_s / jax_s})
  # The PatchGAN alone: forward and backward of its mean logit w.r.t. the parameters.
  from jaxgan.architectures.image_to_image import PatchDiscriminator
  config = config_lib.load_config_file(os.path.join(ROOT, MODELS['cyclegan'][0]))
  size, batch = config.data.image_size, config.train.batch_size
  module = PatchDiscriminator(config.model.d_features, config.model.d_layers, config.model.norm)
  x = np.random.default_rng(1).uniform(-1, 1, (batch, size, size, 1)).astype(np.float32)
  params = module.init(jax.random.PRNGKey(0), jnp.asarray(x))['params']
  grad = jax.jit(jax.grad(lambda p, x: module.apply({'params': p}, x).mean()))
  xj = jnp.asarray(x)
  net = originals.make_discriminator(config, 1)
  xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

  def torch_grad():
    net.zero_grad()
    net(xt).mean().backward()
  jax_s = _median_seconds(lambda: jax.block_until_ready(grad(params, xj)), repeats)
  torch_s = _median_seconds(torch_grad, repeats)
  rows.append({'row': 'PatchGAN forward+backward', 'nets': f'{config.model.d_layers}-layer PatchGAN',
               'batch': batch, 'size': size, 'jax_ms': 1e3 * jax_s, 'torch_ms': 1e3 * torch_s,
               'speedup': torch_s / jax_s})
  return rows


def markdown(results) -> str:
  lines = ['# Image-to-image translation (CycleGAN, pix2pix), offline on CPU', '',
           f'Machine: {results["machine"]}. Each model trained once (seed 0) with its shipped '
           'config; scores on held-out images by the `translation` evaluator '
           '(`python -m jaxgan.evaluate --workdir=DIR`).', '']
  for name, run in results['quality'].items():
    base = run['references'].get('untranslated', {})
    lines += [f'## {name}: `{run["config"]}` on {run["dataset"]}, {run["steps"]} steps of batch '
              f'{run["batch_size"]} ({run["train_seconds"]:.0f} s training)', '',
              f'`{run["command"]}`, then `python -m jaxgan.evaluate --workdir=DIR`', '',
              '| metric | translation | untranslated input (baseline) |', '|---|---|---|']
    for metric, value in run['metrics'].items():
      ref = base.get(metric)
      lines.append(f'| {metric} | {value:.4f} | {"" if ref is None else f"{ref:.4f}"} |')
    for preview, grid in run['grids'].items():
      lines += ['', f'![{name} {preview}]({grid})']
    lines.append('')
  if results.get('speed'):
    lines += ['## Speed: one step, jaxgan (jit) vs the PyTorch originals (eager, '
              f'{results.get("torch_threads", "?")} thread(s))', '',
              'Measured on a shared machine under load; medians of timed repeats after warm-up.', '',
              '| row | nets | batch | size | jaxgan ms | PyTorch ms | speed-up |',
              '|---|---|---|---|---|---|---|']
    for r in results['speed']:
      lines.append(f'| {r["row"]} | {r["nets"]} | {r["batch"]} | {r["size"]} | '
                   f'{r["jax_ms"]:.1f} | {r["torch_ms"]:.1f} | {r["speedup"]:.2f}x |')
  return '\n'.join(lines) + '\n'


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument('--steps', default='cyclegan=2000,cyclegan_inverted=2000,pix2pix=8000')
  parser.add_argument('--skip_speed', action='store_true', help='keep the speed rows of the '
                      'results file')
  parser.add_argument('--repeats', type=int, default=10)
  # One thread: on a loaded 2-core machine PyTorch's intra-op threads oversubscribe the cores
  # and its step time collapses (measured 8.7 s for a CycleGAN step with 2 threads under load).
  parser.add_argument('--torch_threads', type=int, default=1)
  args = parser.parse_args(argv)
  steps = dict((k, int(v)) for k, v in (item.split('=') for item in args.steps.split(',')))
  os.makedirs(WORK, exist_ok=True)
  path = os.path.join(RESULTS, 'image_to_image.json')
  results = {'quality': {}, 'speed': []}
  if os.path.exists(path):   # rows not re-run are kept
    with open(path) as f:
      results = json.load(f)
  results['machine'] = f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs'
  for name, n in steps.items():
    results['quality'][name] = train_and_evaluate(name, n)
    print(json.dumps({name: results['quality'][name]['metrics']}), flush=True)
  if not args.skip_speed:
    results['speed'] = speed_rows(args.repeats, args.torch_threads)
    results['torch_threads'] = args.torch_threads
  with open(path, 'w') as f:
    json.dump(results, f, indent=2, default=float)
  with open(os.path.join(RESULTS, 'image_to_image.md'), 'w') as f:
    f.write(markdown(results))
  print(markdown(results))


if __name__ == '__main__':
  main()
