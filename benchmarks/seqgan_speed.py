"""One SeqGAN adversarial iteration, jaxgan against the PyTorch port (benchmarks/
torch_originals/seqgan.py), at the oracle's sizes: vocabulary 5,000, length 20, batch 64, 16
roll-outs, then --d_steps D updates; D with --d_filter_scale of the reference's filters.

jaxgan: the trainer's compiled adversarial step (sampling, all 16 x 19 roll-outs in one
lax.scan/vmap, the policy-gradient step, the roll-out update, D updates), timed after
compilation. PyTorch: the port's Python loop over roll-outs, prefixes and time (eager). Rounds
interleave the two.

  python benchmarks/seqgan_speed.py [--repeats=3]

Writes benchmarks/results/seqgan_speed.{json,md}.
"""
import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--d_steps', type=int, default=1)
  p.add_argument('--d_filter_scale', type=float, default=0.25)
  p.add_argument('--torch_threads', type=int, default=2)
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch
  from benchmarks.torch_originals import seqgan as torch_seqgan
  from configs import seqgan
  from jaxgan.data.tokens import TokenInfo
  from jaxgan.trainers import make_trainer

  config = seqgan.get_config()
  config.seqgan.adversarial_d_steps = args.d_steps
  config.model.d_num_filters = tuple(max(1, int(round(n * args.d_filter_scale)))
                                     for n in config.model.d_num_filters)
  v, t, b = config.oracle.vocab_size, config.oracle.seq_len, config.train.batch_size
  trainer = make_trainer(config, TokenInfo('oracle', (t,), 0, 10_000, v, t))
  index = trainer.phase_names.index('adversarial')
  state = trainer.init(jax.random.PRNGKey(0), {'tokens': jnp.zeros((1, b, t), jnp.int32)})
  state = trainer.enter_phase(state, index, jax.random.PRNGKey(1))
  real = jax.random.randint(jax.random.PRNGKey(2), (args.d_steps, b, t), 0, v)
  step = jax.jit(trainer.make_step(index))
  g, rollout, d = torch_seqgan.from_jax(trainer, state)   # same weights, before any step

  start = time.perf_counter()
  jax.block_until_ready(step(state, {'tokens': real}, jax.random.PRNGKey(3)))
  first = time.perf_counter() - start
  print(f'jaxgan: compile + first iteration {first:.1f} s', flush=True)

  torch.set_num_threads(args.torch_threads)
  g_opt = torch.optim.Adam(g.parameters(), lr=config.optim.g_lr)
  d_opt = torch.optim.Adam(d.parameters(), lr=config.optim.d_lr)
  real_t = torch.from_numpy(np.asarray(real)).long()

  def jax_iteration(i):
    jax.block_until_ready(step(state, {'tokens': real}, jax.random.PRNGKey(4 + i)))

  def torch_iteration(i):
    del i
    torch_seqgan.adversarial_iteration(g, rollout, d, g_opt, d_opt, real_t,
                                       config.seqgan.rollouts, args.d_steps)

  # Rounds interleave the two (alternating which goes first), so a change in the machine's
  # load reaches both; the table reports medians and the median of the per-round ratios.
  jax_times, torch_times = [], []
  for i in range(args.repeats):
    order = ((jax_iteration, jax_times), (torch_iteration, torch_times))
    for fn, times in (order if i % 2 == 0 else order[::-1]):
      start = time.perf_counter()
      fn(i)
      times.append(time.perf_counter() - start)
    print(f'round {i + 1}/{args.repeats}: jaxgan {jax_times[-1]:.2f} s, PyTorch '
          f'{torch_times[-1]:.2f} s', flush=True)
  ratios = [t / j for t, j in zip(torch_times, jax_times)]
  result = {'vocab_size': v, 'seq_len': t, 'batch_size': b, 'rollouts': config.seqgan.rollouts,
            'd_steps': args.d_steps, 'd_filters': sum(config.model.d_num_filters),
            'jax_compile_and_first_s': first, 'jax_s': jax_times, 'torch_s': torch_times,
            'speedup_median': float(np.median(ratios)),
            'load_average': os.getloadavg(),
            'machine': f'{platform.machine()}, {os.cpu_count()} CPU cores (shared)'}
  text = '\n'.join([
      '# SeqGAN: one adversarial iteration, jaxgan vs the PyTorch port', '',
      f'Vocabulary {v}, length {t}, batch {b}, {config.seqgan.rollouts} roll-outs, '
      f'{args.d_steps} D update(s), D with {result["d_filters"]} filters; medians of '
      f'{args.repeats} interleaved rounds (speed-up: the median of the per-round ratios); '
      f'{result["machine"]}, load average at the end {os.getloadavg()[0]:.1f}.', '',
      '| | seconds per iteration |', '|---|---|',
      f'| jaxgan (compiled step) | {np.median(jax_times):.2f} |',
      f'| PyTorch port (eager, Python loops) | {np.median(torch_times):.2f} |',
      f'| speed-up | {result["speedup_median"]:.2f}x |',
      f'| jaxgan compile + first iteration | {first:.1f} |', ''])
  print(text)
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, 'seqgan_speed.json'), 'w') as f:
    json.dump(result, f, indent=1)
  with open(os.path.join(RESULTS, 'seqgan_speed.md'), 'w') as f:
    f.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
