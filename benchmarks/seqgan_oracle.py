"""SeqGAN's oracle benchmark (Yu et al. 2017) at a CPU budget: MLE alone, SeqGAN and the
constant-reward control, 3 seeds each, against the same oracle; then MLE sampled at
temperatures 0.7-1.3 (NLL-oracle of its samples against NLL-test of held-out oracle data).

Every run trains through the library's own loop (`jaxgan.train.run`, what `python launch.py
--config=configs/seqgan.py --workdir=...` runs) with the oracle source (vocabulary 5,000,
length 20, 10,000 training sequences, oracle weights N(0, 1), seed 88 for every run) and the
'oracle_nll' evaluator every `--eval_every` steps. The three variants of one seed share their
first `--mle_steps` steps exactly (same seed, same batches); the MLE run keeps doing MLE for
the steps SeqGAN spends on D pre-training and adversarial training, so it gets at least as
many G updates.

The budget (the reference's in brackets): MLE --mle_steps (18,720), D pre-training
--d_pretrain_steps updates (23,400), adversarial --adv_steps policy-gradient steps (200) with
--adv_d_steps D updates each (2,340), 16 roll-outs; D with a quarter of the reference's
filters (--d_filter_scale); NLL-oracle on --eval_samples samples (10,000).

  python benchmarks/seqgan_oracle.py                  # the default budget: 68 min on 2 shared cores
  python benchmarks/seqgan_oracle.py --seeds=0 --adv_steps=2 --mle_steps=100 --quick  # a look

Workdirs under benchmarks/results/tmp/seqgan_oracle/<variant>_s<seed> (re-running resumes,
--fresh starts over). Writes benchmarks/results/seqgan_oracle.json, .md and
seqgan_oracle_curve.png (NLL-oracle against step) and seqgan_oracle_temperature.png.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
WORK = os.path.join(RESULTS, 'tmp', 'seqgan_oracle')
TEMPERATURES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
VARIANTS = ('mle', 'seqgan', 'constant')
PAPER_SEQGAN = 8.736
REFERENCE_LOG = {'mle': 9.07, 'seqgan': 8.68}   # LantaoYu/SeqGAN's log (ANCHORS.md)


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--seeds', default='0,1,2')
  p.add_argument('--mle_steps', type=int, default=300)
  p.add_argument('--d_pretrain_steps', type=int, default=50)
  p.add_argument('--adv_steps', type=int, default=10)
  p.add_argument('--adv_d_steps', type=int, default=1)
  p.add_argument('--rollouts', type=int, default=16)
  p.add_argument('--d_filter_scale', type=float, default=0.25)
  p.add_argument('--eval_every', type=int, default=50)
  p.add_argument('--eval_samples', type=int, default=1000)
  p.add_argument('--temperature_samples', type=int, default=2000)
  p.add_argument('--fresh', action='store_true')
  p.add_argument('--quick', action='store_true', help='do not write results/')
  return p.parse_args(argv)


def make_config(args, variant: str, seed: int):
  from configs import seqgan
  config = seqgan.get_config()
  config.seed = seed
  adv_start = args.mle_steps + args.d_pretrain_steps
  total = adv_start + args.adv_steps
  config.train.num_steps = total
  config.seqgan.mle_steps = total if variant == 'mle' else args.mle_steps
  config.seqgan.d_pretrain_steps = args.d_pretrain_steps
  config.seqgan.adversarial_d_steps = args.adv_d_steps
  config.seqgan.rollouts = args.rollouts
  config.seqgan.reward = 'constant' if variant == 'constant' else 'discriminator'
  config.model.d_num_filters = tuple(max(1, int(round(n * args.d_filter_scale)))
                                     for n in config.model.d_num_filters)
  config.eval.every_steps = args.eval_every
  config.eval.num_samples = args.eval_samples
  config.train.log_every_steps = args.eval_every
  config.train.sample_every_steps = total
  config.train.checkpoint_every_steps = args.eval_every
  config.train.keep_checkpoints = 1
  config.train.progress_bar = 'no'
  return config, adv_start


def train_variant(args, variant, seed, num_steps=None, start_from=None, name=None):
  """Trains `variant` of `seed` to `num_steps` (default: the whole budget) in its workdir,
  first copying the workdir `start_from` (a run that shares its first steps: resume is exact,
  so this ends where an uninterrupted run ends)."""
  from jaxgan import train
  config, _ = make_config(args, variant, seed)
  if num_steps is not None:
    config.train.num_steps = num_steps
  workdir = os.path.join(WORK, f'{name or variant}_s{seed}')
  if args.fresh and os.path.isdir(workdir):
    shutil.rmtree(workdir)
  if start_from is not None and not os.path.isdir(workdir):
    shutil.copytree(start_from, workdir)
  start = time.time()
  train.run(config, workdir)
  seconds = time.time() - start
  records = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  curve = [(r['step'], r['nll_oracle'], r['nll_test']) for r in records if 'nll_oracle' in r]
  return config, workdir, curve, seconds


def temperature_sweep(config, workdir, n):
  """(temperature, nll_oracle, nll_test) of the final state of the run in `workdir`."""
  import jax
  import jax.numpy as jnp
  from jaxgan.evaluate import restore_trained_state
  from jaxgan.metrics.oracle import mean_nll
  run, state, _ = restore_trained_state(config, workdir)
  trainer, source = run.trainer, run.source
  sample = jax.jit(trainer.sample, static_argnums=2)
  g_log_probs = jax.jit(trainer.token_log_probs)
  oracle_log_probs = jax.jit(source.oracle_log_probs)
  held_out = source.eval_arrays(config.eval.max_real_samples)['tokens']
  key = jax.random.PRNGKey(1234)
  rows = []
  for temperature in TEMPERATURES:
    samples = jnp.concatenate([sample(state, jax.random.fold_in(key, i), 1000, temperature)
                               for i in range(n // 1000)])
    rows.append((temperature, mean_nll(oracle_log_probs, samples),
                 mean_nll(lambda t: g_log_probs(state, jnp.asarray(t), temperature), held_out)))
  return rows


def stats(values):
  import numpy as np
  values = np.asarray(values, np.float64)
  return {'mean': float(values.mean()), 'std': float(values.std(ddof=1)) if len(values) > 1 else 0.0,
          'min': float(values.min()), 'max': float(values.max()), 'values': values.tolist()}


def oracle_floor(config):
  """The oracle's NLL of its own held-out data (its entropy rate: the best possible)."""
  import jax
  from jaxgan.data import make_source
  from jaxgan.metrics.oracle import mean_nll
  source = make_source(config)
  return mean_nll(jax.jit(source.oracle_log_probs),
                  source.eval_arrays(config.eval.max_real_samples)['tokens'])


def plot(result, path_curve, path_temperature):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np
  colors = {'mle': 'tab:blue', 'seqgan': 'tab:red', 'constant': 'tab:green'}
  fig, ax = plt.subplots(figsize=(7, 4.2))
  for variant in VARIANTS:
    curves = [run['curve'] for run in result['runs'] if run['variant'] == variant]
    if not curves:
      continue
    steps = [s for s, _, _ in curves[0]]
    values = np.array([[v for _, v, _ in c[:len(steps)]] for c in curves])
    mean = values.mean(0)
    ax.plot(steps, mean, color=colors[variant], label=f'{variant} (mean of {len(curves)} seeds)')
    ax.fill_between(steps, values.min(0), values.max(0), color=colors[variant], alpha=0.2)
  ax.axvline(result['budget']['mle_steps'], color='grey', ls=':', lw=1)
  ax.axvline(result['budget']['adversarial_start'], color='grey', ls='--', lw=1)
  ax.axhline(result['oracle_floor'], color='black', lw=0.8, label='oracle (its own data)')
  ax.set_xlabel('step'); ax.set_ylabel('NLL-oracle (nats/token)')
  ax.set_title('SeqGAN oracle benchmark (CPU budget): dotted = end of MLE, dashed = adversarial')
  ax.title.set_fontsize(9)
  ax.legend(fontsize=8)
  fig.tight_layout(); fig.savefig(path_curve, dpi=120); plt.close(fig)
  fig, ax = plt.subplots(figsize=(5.5, 4.2))
  for sweep in result['temperature']:
    ax.plot([r[2] for r in sweep['rows']], [r[1] for r in sweep['rows']], 'o-', color='tab:blue',
            alpha=0.6, label=f'MLE, T 0.7-1.3 (seed {sweep["seed"]})')
  for run in result['runs']:
    if run['variant'] != 'mle':
      ax.plot(run['final']['nll_test'], run['final']['nll_oracle'], 's', color=colors[run['variant']],
              label=f'{run["variant"]} seed {run["seed"]}')
  ax.set_xlabel('NLL-test (held-out oracle data under G)'); ax.set_ylabel('NLL-oracle (G samples)')
  ax.legend(fontsize=6); fig.tight_layout(); fig.savefig(path_temperature, dpi=120); plt.close(fig)


def markdown(result) -> str:
  b = result['budget']
  lines = ['# SeqGAN oracle benchmark (CPU budget)', '',
           f'Oracle LSTM (vocabulary 5,000, length 20, 32/32, weights N(0, 1), seed 88), 10,000 '
           f'training sequences, batch 64. Budget: MLE {b["mle_steps"]} steps '
           f'({b["mle_steps"] / 156:.1f} epochs; the reference 120), D pre-training '
           f'{b["d_pretrain_steps"]} updates (23,400), adversarial {b["adv_steps"]} iterations (200) '
           f'of one policy-gradient step with {b["rollouts"]} roll-outs and {b["adv_d_steps"]} D '
           f'updates (2,340); D with {b["d_filter_scale"]:g} of the reference\'s filters; '
           f'NLL-oracle on {b["eval_samples"]} samples (10,000). MLE alone keeps doing MLE for '
           'the same number of steps. Seeds ' + ', '.join(map(str, result['seeds'])) + '.', '',
           '| | NLL-oracle at the end (mean ± std over seeds) | min - max | gap to MLE | NLL-test |',
           '|---|---|---|---|---|']
  final = result['final']
  for variant in VARIANTS:
    if variant not in final:
      continue
    f = final[variant]
    gap = result['gaps'].get(variant)
    gap_text = '' if gap is None else f'{gap["mean"]:+.3f} ± {gap["std"]:.3f}'
    lines.append(f'| {variant} | {f["nll_oracle"]["mean"]:.3f} ± {f["nll_oracle"]["std"]:.3f} | '
                 f'{f["nll_oracle"]["min"]:.3f} - {f["nll_oracle"]["max"]:.3f} | {gap_text} | '
                 f'{f["nll_test"]["mean"]:.3f} |')
  lines += [f'| at the end of MLE (step {b["mle_steps"]}) | {final["after_mle"]["mean"]:.3f} ± '
            f'{final["after_mle"]["std"]:.3f} | | | |',
            f'| the oracle itself (its held-out data) | {result["oracle_floor"]:.3f} | | | |',
            f'| paper, SeqGAN (full budget) | {PAPER_SEQGAN} | | | |',
            f'| reference log, MLE / SeqGAN (full budget) | {REFERENCE_LOG["mle"]} / '
            f'{REFERENCE_LOG["seqgan"]} | | -0.39 | |', '',
           'Gap = variant minus MLE alone of the same seed (negative: better than MLE).', '',
           '## MLE at temperatures (final MLE state)', '',
           '| T | NLL-oracle (mean over seeds) | NLL-test |', '|---|---|---|']
  for i, temperature in enumerate(TEMPERATURES):
    o = [s['rows'][i][1] for s in result['temperature']]
    t = [s['rows'][i][2] for s in result['temperature']]
    lines.append(f'| {temperature} | {sum(o) / len(o):.3f} | {sum(t) / len(t):.3f} |')
  lines += ['', f'Wall time {result["seconds"] / 60:.1f} min on {result["machine"]}.', '']
  return '\n'.join(lines)


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  import numpy as np
  seeds = [int(s) for s in args.seeds.split(',')]
  start = time.time()
  runs, temperature = [], []
  _, adv_start = make_config(args, 'seqgan', 0)
  for seed in seeds:
    # The variants share steps: all of them the MLE phase, SeqGAN and the control D's
    # pre-training too. Those are trained once and copied (resume is bit-exact).
    _, mle_dir, _, _ = train_variant(args, 'seqgan', seed, args.mle_steps, name='mle_phase')
    _, pre_dir, _, _ = train_variant(args, 'seqgan', seed, adv_start, mle_dir, 'd_pretrain_phase')
    for variant in VARIANTS:
      config, workdir, curve, seconds = train_variant(
          args, variant, seed, start_from=mle_dir if variant == 'mle' else pre_dir)
      step, nll_oracle, nll_test = curve[-1]
      runs.append({'variant': variant, 'seed': seed, 'curve': curve, 'seconds': seconds,
                   'final': {'step': step, 'nll_oracle': nll_oracle, 'nll_test': nll_test}})
      print(f'{variant} seed {seed}: NLL-oracle {nll_oracle:.3f} NLL-test {nll_test:.3f} '
            f'({seconds:.0f} s)', flush=True)
      if variant == 'mle':
        temperature.append({'seed': seed, 'rows': temperature_sweep(config, workdir,
                                                                   args.temperature_samples)})
  final, gaps = {}, {}
  for variant in VARIANTS:
    chosen = [r for r in runs if r['variant'] == variant]
    final[variant] = {k: stats([r['final'][k] for r in chosen]) for k in ('nll_oracle', 'nll_test')}
  mle_by_seed = {r['seed']: r['final']['nll_oracle'] for r in runs if r['variant'] == 'mle'}
  for variant in ('seqgan', 'constant'):
    gaps[variant] = stats([r['final']['nll_oracle'] - mle_by_seed[r['seed']]
                           for r in runs if r['variant'] == variant])
  after_mle = [dict((s, v) for s, v, _ in r['curve'])[args.mle_steps]
               for r in runs if r['variant'] == 'seqgan']
  final['after_mle'] = stats(after_mle)
  result = {
      'budget': {'mle_steps': args.mle_steps, 'd_pretrain_steps': args.d_pretrain_steps,
                 'adversarial_start': adv_start, 'adv_steps': args.adv_steps,
                 'adv_d_steps': args.adv_d_steps, 'rollouts': args.rollouts,
                 'd_filter_scale': args.d_filter_scale, 'eval_samples': args.eval_samples},
      'seeds': seeds, 'runs': runs, 'final': final, 'gaps': gaps, 'temperature': temperature,
      'oracle_floor': oracle_floor(make_config(args, 'mle', 0)[0]),
      'anchors': {'paper_seqgan': PAPER_SEQGAN, 'reference_log': REFERENCE_LOG},
      'seconds': time.time() - start,
      'machine': f'{platform.machine()}, {os.cpu_count()} CPU cores (shared)'}
  text = markdown(result)
  print(text)
  if args.quick:
    return 0
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, 'seqgan_oracle.json'), 'w') as f:
    json.dump(result, f, indent=1)
  with open(os.path.join(RESULTS, 'seqgan_oracle.md'), 'w') as f:
    f.write(text)
  plot(result, os.path.join(RESULTS, 'seqgan_oracle_curve.png'),
       os.path.join(RESULTS, 'seqgan_oracle_temperature.png'))
  return 0


if __name__ == '__main__':
  sys.exit(main())
