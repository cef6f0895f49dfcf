"""Differential runs on the 2-D mixtures: jaxgan and its PyTorch original trained side by side.

Both sides start from the same weights (jaxgan's initialisation, ported to PyTorch by name,
benchmarks/torch_originals/mixtures.py) and get, at every step, the same real batches, the
same latents and the same gradient-penalty draws (drawn once, in JAX, the way jaxgan's step
draws them). At checkpoints both generators map the same 2,500 noise vectors to samples,
scored with PacGAN's protocol (modes captured, high-quality %, reverse KL;
jaxgan/data/mixtures.py), and the parameters are compared:

  drift   ||theta_jaxgan - theta_torch|| / ||theta_jaxgan||, per player (G, D);
  twin    the same distance between jaxgan and a second jaxgan run whose initial weights
          differ from the first by one float32 rounding (relative 2^-24 per weight, random
          sign): how fast rounding noise alone grows in this game. A correct port drifts like
          the twin (GAN training amplifies any difference, so neither stays at 1e-7);
          a defect shows as drift far above the twin from the first checkpoints on;
  gap     the mean distance between the two sides' samples of the same noise, in units of
          the mixture's standard deviation.

  python benchmarks/mixture_differential.py --variants=gan,wgan_gp --mixtures=ring8 --steps=2000

Writes benchmarks/results/mixture_differential.json (every checkpoint) and .md (the table).
Rows of earlier runs stay in the JSON unless --fresh, so variants may run in separate processes
(sequentially: the file is rewritten whole).
"""
import argparse
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
import torch  # noqa: E402

from benchmarks import mixtures as mixture_benchmark  # noqa: E402
from benchmarks.torch_originals import mixtures as torch_mixtures  # noqa: E402
from jaxgan.data import mixtures  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402
from jaxgan.trainers.adversarial import Latents  # noqa: E402

NUM_SAMPLES = mixture_benchmark.NUM_SAMPLES
ROUNDING = 2.0 ** -24   # float32's unit roundoff


def flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def relative_distance(a, b):
  a, b = flat(a), flat(b)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))


def perturb(params, key):
  """Every weight times (1 +- 2^-24), the sign random: one float32 rounding."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  signs = [jax.random.rademacher(k, x.shape, jnp.float32) for k, x in zip(keys, leaves)]
  return jax.tree.unflatten(treedef, [x * (1.0 + ROUNDING * s) for x, s in zip(leaves, signs)])


def run_pair(variant, mixture, steps, every, seed, overrides):
  config = mixture_benchmark.make_config(variant, mixture, steps, overrides)
  config.seed = seed
  source = mixtures.MixtureSource(config)
  trainer = make_trainer(config, source.info)
  d_steps, batch_size = config.train.d_steps, config.train.batch_size
  base = jax.random.PRNGKey(seed)
  example = source.example_batch(d_steps)
  state = trainer.init(jax.random.fold_in(base, 1), example)
  twin = state.replace(g=state.g.replace(params=perturb(state.g.params, jax.random.fold_in(base, 2))),
                       d=state.d.replace(params=perturb(state.d.params, jax.random.fold_in(base, 3))))
  tgan = torch_mixtures.torch_pair(config, state)
  means = jnp.asarray(source.means)
  train_key, data_key = jax.random.fold_in(base, 4), jax.random.fold_in(base, 5)

  @jax.jit
  def inputs(step):
    """This step's key, batch and what jaxgan's step draws from the key (for PyTorch)."""
    key = jax.random.fold_in(train_key, step)
    points, modes = mixtures.sample(jax.random.fold_in(data_key, step), means, source.std,
                                    d_steps * batch_size)
    batch = {'image': points.reshape(d_steps, batch_size, 2),
             'label': modes.reshape(d_steps, batch_size).astype(jnp.int32)}
    keys = [jax.random.fold_in(key, i) for i in range(d_steps)]
    noises = jnp.stack([trainer.sample_latents(k, batch_size) for k in keys])
    eps = jnp.stack([jax.random.uniform(jax.random.fold_in(k, 2), (batch_size, 1)) for k in keys])
    return key, batch, noises, eps

  step_fn = jax.jit(trainer.make_step())
  eval_z = jax.random.normal(jax.random.fold_in(base, 6), (NUM_SAMPLES, config.model.latent_dim))
  generate = jax.jit(lambda s: trainer.generate(s, Latents(eval_z)))
  mixture_std = source.std

  def checkpoint(step, metrics, losses):
    points_j, points_twin = np.asarray(generate(state)), np.asarray(generate(twin))
    tgan.netG.eval()     # the mixture configs sample with running statistics
    with torch.no_grad():
      points_t = tgan.netG(torch.from_numpy(np.asarray(eval_z))).numpy()
    tgan.netG.train()
    params_g, _ = torch_mixtures.torch_to_params(tgan.netG)
    params_d, _ = torch_mixtures.torch_to_params(tgan.netD)
    row = {'step': step,
           'jaxgan': mixtures.evaluate(points_j, mixture),
           'torch': mixtures.evaluate(points_t, mixture),
           'twin': mixtures.evaluate(points_twin, mixture),
           'drift_g': relative_distance(state.g.params, params_g),
           'drift_d': relative_distance(state.d.params, params_d),
           'twin_drift_g': relative_distance(state.g.params, twin.g.params),
           'twin_drift_d': relative_distance(state.d.params, twin.d.params),
           'sample_gap': float(np.linalg.norm(points_j - points_t, axis=1).mean() / mixture_std),
           'twin_sample_gap': float(np.linalg.norm(points_j - points_twin, axis=1).mean() / mixture_std),
           'losses': {'jaxgan_d': float(metrics['d_loss']), 'jaxgan_g': float(metrics['g_loss']),
                      'torch_d': float(losses[0]), 'torch_g': float(losses[1])} if metrics else None}
    print(f'  {variant}/{mixture} step {step}: jaxgan {row["jaxgan"]["modes"]} modes '
          f'{100 * row["jaxgan"]["high_quality"]:.0f}% | torch {row["torch"]["modes"]} modes '
          f'{100 * row["torch"]["high_quality"]:.0f}% | drift G {row["drift_g"]:.2e} D '
          f'{row["drift_d"]:.2e} (twin {row["twin_drift_g"]:.2e} / {row["twin_drift_d"]:.2e}) '
          f'gap {row["sample_gap"]:.2f} std', flush=True)
    return row

  rows = [checkpoint(0, None, None)]
  seconds = {'jaxgan': 0.0, 'torch': 0.0}
  for step in range(steps):
    key, batch, noises, eps = inputs(step)
    start = time.time()
    state, metrics = step_fn(state, batch, key)
    twin, _ = step_fn(twin, batch, key)
    jax.block_until_ready((state, twin))
    seconds['jaxgan'] += (time.time() - start) / 2
    points, noises, eps = (np.asarray(batch['image']), np.asarray(noises), np.asarray(eps))
    start = time.time()
    losses = tgan.step([torch.from_numpy(p) for p in points], [torch.from_numpy(z) for z in noises],
                       [torch.from_numpy(e) for e in eps])
    seconds['torch'] += time.time() - start
    if (step + 1) % every == 0 or step + 1 == steps:
      rows.append(checkpoint(step + 1, metrics, losses))
  return {'checkpoints': rows, 'train_seconds': seconds, 'steps': steps, 'seed': seed,
          'config': mixture_benchmark.VARIANTS[variant][0], 'overrides': list(overrides),
          'batch_size': batch_size, 'd_steps': d_steps}


def _fmt(result):
  return (f'{result["modes"]} / {100 * result["high_quality"]:.0f}% / '
          f'{result["reverse_kl"]:.2f}')


def markdown(report):
  lines = ['| mixture | variant | steps | jaxgan: modes / HQ % / reverse KL | PyTorch: modes / HQ % / '
           'reverse KL | drift G / D at the first checkpoint | twin drift G / D there | drift G / D at '
           'the end | twin drift G / D there | sample gap (std), end: PyTorch / twin | seconds '
           '(jaxgan / PyTorch) |',
           '| --- ' * 11 + '|']
  for key, entry in report['results'].items():
    variant, mixture = key.split('/')
    rows = entry['checkpoints']
    first, last = rows[1], rows[-1]
    lines.append(
        f'| {mixture} | {mixture_benchmark.VARIANTS[variant][1]} | {entry["steps"]:,} | '
        f'{_fmt(last["jaxgan"])} | {_fmt(last["torch"])} | '
        f'{first["drift_g"]:.1e} / {first["drift_d"]:.1e} (step {first["step"]}) | '
        f'{first["twin_drift_g"]:.1e} / {first["twin_drift_d"]:.1e} | '
        f'{last["drift_g"]:.1e} / {last["drift_d"]:.1e} | '
        f'{last["twin_drift_g"]:.1e} / {last["twin_drift_d"]:.1e} | '
        f'{last["sample_gap"]:.1f} / {last["twin_sample_gap"]:.1f} | '
        f'{entry["train_seconds"]["jaxgan"]:.0f} / {entry["train_seconds"]["torch"]:.0f} |')
  curves = ['', 'Per checkpoint (modes / high-quality %: jaxgan | PyTorch | twin; parameter drift G / D: '
            'PyTorch, twin):', '']
  for key, entry in report['results'].items():
    curves.append(f'- {key}: ' + '; '.join(
        f'{r["step"]}: {r["jaxgan"]["modes"]}/{100 * r["jaxgan"]["high_quality"]:.0f} | '
        f'{r["torch"]["modes"]}/{100 * r["torch"]["high_quality"]:.0f} | '
        f'{r["twin"]["modes"]}/{100 * r["twin"]["high_quality"]:.0f}, '
        f'{r["drift_g"]:.0e}/{r["drift_d"]:.0e}, {r["twin_drift_g"]:.0e}/{r["twin_drift_d"]:.0e}'
        for r in entry['checkpoints'][1:]))
  return '\n'.join(lines + curves)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--variants', default='gan,pacgan2,minibatch,wgan_gp,unrolled')
  parser.add_argument('--mixtures', default='ring8,grid25')
  parser.add_argument('--steps', type=int, default=2000)
  parser.add_argument('--every', type=int, default=250, help='steps between checkpoints')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE',
                      help='config override for every variant (as benchmarks/mixtures.py)')
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  parser.add_argument('--fresh', action='store_true', help='drop earlier rows of the JSON')
  parser.add_argument('--table_only', action='store_true')
  args = parser.parse_args()
  torch.set_num_threads(1)   # small tensors: one thread is fastest and leaves a core free
  json_path = os.path.join(args.out, 'mixture_differential.json')
  report = {'results': {}, 'commands': []}
  if os.path.exists(json_path) and not args.fresh:
    with open(json_path) as f:
      report = json.load(f)
  if not args.table_only:
    command = 'python benchmarks/mixture_differential.py ' + shlex.join(sys.argv[1:])
    if command not in report['commands']:
      report['commands'].append(command)
    os.makedirs(args.out, exist_ok=True)
    for variant in args.variants.split(','):
      for mixture in args.mixtures.split(','):
        print(f'{variant} on {mixture}: {args.steps} steps, seed {args.seed}', flush=True)
        entry = run_pair(variant, mixture, args.steps, args.every, args.seed, args.set)
        entry['command'] = command
        report['results'][f'{variant}/{mixture}'] = entry
        with open(json_path + '.tmp', 'w') as f:
          json.dump(report, f, indent=1)
        os.replace(json_path + '.tmp', json_path)
  table = markdown(report)
  with open(os.path.join(args.out, 'mixture_differential.md'), 'w') as f:
    f.write('Differential runs, jaxgan against its PyTorch original from the same weights, batches, '
            'latents and penalty draws (benchmarks/mixture_differential.py). Commands:\n\n'
            + ''.join(f'    {c}\n' for c in report['commands']) + '\n' + table + '\n')
  print(table)


if __name__ == '__main__':
  main()
