"""SeqGAN on real text (configs/seqgan_text.py: gensim's Lee background corpus, word level,
20 tokens, 5,000 words, offline): BLEU-2..5 against held-out sentences (quality, higher is
closer to real text) and Self-BLEU-2..5 (diversity, lower is more diverse), of MLE alone and
of SeqGAN, next to what the held-out text itself scores.

Both variants train through the library's own loop (`jaxgan.train.run`, what `python
launch.py --config=configs/seqgan_text.py --workdir=DIR` runs) with the config's 'bleu'
evaluator (eval.bleu_samples sentences of G, a fixed key at every evaluation, against
eval.bleu_references held-out sentences; jaxgan/metrics/bleu.py) every --eval_every steps:
  seqgan  the config's phases: MLE --mle_steps, D pre-training --d_pretrain_steps, then
          --adv_steps adversarial iterations of one policy-gradient step and --adv_d_steps D
          updates each
  mle     the same number of steps, all MLE (seqgan.mle_steps = train.num_steps: it never
          leaves the MLE phase), so it gets at least as many G updates
The two share their MLE phase exactly (same seed, same batches): it is trained once, to
--mle_steps, in mle_phase_s<seed>, and copied into both workdirs, which resume from it
(resume is exact; the optimizers' schedule is constant, so a run cut at a phase end is the
run the one command trains). The loop evaluates at multiples of eval.every_steps and at the
end of a run, so stopping there also evaluates at the end of MLE and (seqgan) of D
pre-training. Each run is what one command trains (seed 0, the default budget):

  python launch.py --config=configs/seqgan_text.py --workdir=DIR --config.train.progress_bar=no --config.train.keep_checkpoints=1
  python launch.py --config=configs/seqgan_text.py --workdir=DIR --config.seqgan.mle_steps=3280 --config.train.progress_bar=no --config.train.keep_checkpoints=1

The budget by default is the config's own: MLE 2,880 steps (80 epochs of the 2,358 training
sentences), D pre-training 300 updates, adversarial 100 iterations of 15 D updates; BLEU
every 500 steps on 200 samples against the held-out sentences (eval.bleu_references 500;
the corpus holds 261). Measured on 2 shared CPU cores with --adv_steps=50: 43.5 min in all
(MLE about 10 steps/s, D pre-training about 1 update/s, an adversarial iteration about 32 s:
16 roll-outs and 15 D updates), so the config's 100 iterations take about 70 min.

  python benchmarks/seqgan_text.py                  # the config's budget, seed 0: about 70 min
  python benchmarks/seqgan_text.py --adv_steps=50    # what benchmarks/results/ holds
  python benchmarks/seqgan_text.py --seeds=0,1,2
  python benchmarks/seqgan_text.py --mle_steps=40 --d_pretrain_steps=10 --adv_steps=3 \\
      --adv_d_steps=1 --quick                       # a look, nothing written to results/

Workdirs under <results>/tmp/seqgan_text/<variant>_s<seed> (re-running resumes, --fresh
starts over). Writes <results>/seqgan_text.json (config, commands, budget, seconds, platform,
BLEU and Self-BLEU at the end of MLE and at the end, the curves, samples), seqgan_text.md (the
table and five sample sentences of each variant from its last samples/step_<N>.txt) and,
where matplotlib is installed, seqgan_text_curve.png (BLEU-3 and Self-BLEU-3 against step);
<results> is benchmarks/results unless --results says otherwise.
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

CONFIG = 'configs/seqgan_text.py'
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
VARIANTS = ('mle', 'seqgan')
ORDERS = (2, 3, 4, 5)   # jaxgan.metrics.bleu.ORDERS
KEYS = tuple(f'bleu_{n}' for n in ORDERS) + tuple(f'self_bleu_{n}' for n in ORDERS)
NUM_SAMPLE_LINES = 5


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--seeds', default='0')
  p.add_argument('--mle_steps', type=int, default=2880)
  p.add_argument('--d_pretrain_steps', type=int, default=300)
  p.add_argument('--adv_steps', type=int, default=100)
  p.add_argument('--adv_d_steps', type=int, default=15)
  p.add_argument('--eval_every', type=int, default=500)
  p.add_argument('--bleu_samples', type=int, default=None,
                 help="G's sentences scored at each evaluation (default: the config's)")
  p.add_argument('--results', default=RESULTS, help='folder of the outputs and of tmp/ workdirs')
  p.add_argument('--fresh', action='store_true', help='delete the workdirs first')
  p.add_argument('--quick', action='store_true', help='print the table, write nothing to results/')
  args = p.parse_args(argv)
  if args.mle_steps < 1 or args.d_pretrain_steps < 0 or args.adv_steps < 1 or args.eval_every < 1:
    p.error('--mle_steps, --adv_steps and --eval_every must be >= 1, --d_pretrain_steps >= 0')
  return args


def budget(args):
  adv_start = args.mle_steps + args.d_pretrain_steps
  return {'mle_steps': args.mle_steps, 'd_pretrain_steps': args.d_pretrain_steps,
          'adversarial_start': adv_start, 'adv_steps': args.adv_steps,
          'adv_d_steps': args.adv_d_steps, 'total_steps': adv_start + args.adv_steps,
          'eval_every': args.eval_every}


def make_config(args, variant: str, seed: int, num_steps=None):
  """(config, overrides of configs/seqgan_text.py it differs by) of `variant`; num_steps cuts
  the run short (a stage: not part of the command)."""
  from jaxgan import config as config_lib
  b = budget(args)
  overrides = [f'seed={seed}',
               f'seqgan.mle_steps={b["total_steps"] if variant == "mle" else args.mle_steps}',
               f'seqgan.d_pretrain_steps={args.d_pretrain_steps}',
               f'seqgan.adversarial_d_steps={args.adv_d_steps}',
               f'train.num_steps={b["total_steps"]}',
               f'eval.every_steps={args.eval_every}',
               'train.progress_bar=no', 'train.keep_checkpoints=1']
  if args.bleu_samples is not None:
    overrides.append(f'eval.bleu_samples={args.bleu_samples}')
  base = config_lib.load_config_file(os.path.join(ROOT, CONFIG))
  config = config_lib.load_config_file(os.path.join(ROOT, CONFIG))
  config_lib.apply_overrides(config, overrides)
  differing = [o for o in overrides if str(_field(config, o)) != str(_field(base, o))]
  if tuple(config.eval.metrics) != ('bleu',):
    raise SystemExit(f'{CONFIG} evaluates {tuple(config.eval.metrics)}; this benchmark reads bleu')
  if config.optim.schedule != 'constant':   # a stage cut at a phase end would change the schedule
    raise SystemExit(f'{CONFIG} has optim.schedule={config.optim.schedule!r}; the benchmark '
                     'stops runs at phase ends, which needs the constant schedule')
  if num_steps is not None:
    config.train.num_steps = num_steps
  return config, differing


def _field(config, override):
  node = config
  for part in override.split('=', 1)[0].split('.'):
    node = node[part]
  return node


def command(overrides) -> str:
  return ' '.join([f'python launch.py --config={CONFIG} --workdir=DIR'] +
                  [f'--config.{o}' for o in overrides])


def evaluations(workdir, up_to):
  """{step: {key: value}} of the bleu evaluations in the run's metrics.jsonl, steps <= up_to."""
  path = os.path.join(workdir, 'metrics.jsonl')
  found = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except ValueError:
          continue
        if 'bleu_2' in record and record['step'] <= up_to:
          found[int(record['step'])] = {k: record[k] for k in KEYS}
  return found


def last_step(workdir) -> int:
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return 0
  steps = [0]
  with open(path) as f:
    for line in f:
      try:
        steps.append(int(json.loads(line)['step']))
      except (ValueError, KeyError):
        continue
  return max(steps)


def train_stage(args, variant, seed, workdir, num_steps, label):
  """Trains `variant` of `seed` in `workdir` (resuming) up to `num_steps`; the seconds it took.
  Stops the benchmark, in one line, unless the run has its evaluation at `num_steps`."""
  from jaxgan import train
  config, _ = make_config(args, variant, seed, num_steps)
  start = time.time()
  train.run(config, workdir)
  seconds = time.time() - start
  if num_steps not in evaluations(workdir, num_steps):
    raise SystemExit(f'{label} seed {seed} stopped short: no evaluation at step {num_steps} in '
                     f'{workdir}/metrics.jsonl (the run reached step {last_step(workdir)}); '
                     're-run to resume, or --fresh if the workdir holds another budget')
  return seconds


def last_samples(workdir, up_to):
  """(file name, its first lines) of the last samples/step_<N>.txt with N <= up_to."""
  folder = os.path.join(workdir, 'samples')
  steps = []
  for name in os.listdir(folder) if os.path.isdir(folder) else ():
    stem = name[len('step_'):-len('.txt')]
    if name.startswith('step_') and name.endswith('.txt') and stem.isdigit() and int(stem) <= up_to:
      steps.append(int(stem))
  if not steps:
    return None, []
  name = f'step_{max(steps)}.txt'
  with open(os.path.join(folder, name)) as f:
    lines = [line.rstrip('\n') for line in f]
  return name, lines[:NUM_SAMPLE_LINES]


def stats(values):
  import numpy as np
  values = np.asarray(values, np.float64)
  return {'mean': float(values.mean()), 'std': float(values.std(ddof=1)) if len(values) > 1 else 0.0,
          'min': float(values.min()), 'max': float(values.max()), 'values': values.tolist()}


def plot(result, path):
  try:
    import matplotlib
  except ImportError:
    print('matplotlib is not installed: no learning-curve PNG', flush=True)
    return None
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np
  b = result['budget']
  colors = {'mle': 'tab:blue', 'seqgan': 'tab:red'}
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, key, label in ((axes[0], 'bleu_3', 'BLEU-3 (higher: closer to held-out text)'),
                         (axes[1], 'self_bleu_3', 'Self-BLEU-3 (lower: more diverse)')):
    for variant in VARIANTS:
      curves = [run['curve'] for run in result['runs'] if run['variant'] == variant]
      if not curves:
        continue
      steps = [point['step'] for point in curves[0]]
      values = np.array([[point[key] for point in c[:len(steps)]] for c in curves])
      ax.plot(steps, values.mean(0), 'o-', ms=3, color=colors[variant],
              label=f'{variant} (mean of {len(curves)} seed{"s" if len(curves) > 1 else ""})')
      if len(curves) > 1:
        ax.fill_between(steps, values.min(0), values.max(0), color=colors[variant], alpha=0.2)
    for name, style, text in (('training_text', '-', 'real training sentences'),
                              ('held_out_text', '--', 'held-out text itself')):
      reference = result['references'].get(name, {}).get(key)
      if reference is not None:
        ax.axhline(reference, color='black', ls=style, lw=0.8, label=text)
    ax.axvline(b['mle_steps'], color='grey', ls=':', lw=1)
    ax.axvline(b['adversarial_start'], color='grey', ls='--', lw=1)
    ax.set_xlabel('step'); ax.set_ylabel(label)
    ax.legend(fontsize=8)
  fig.suptitle('SeqGAN on the Lee corpus: dotted = end of MLE, dashed = start of adversarial',
               fontsize=9)
  fig.tight_layout(); fig.savefig(path, dpi=120); plt.close(fig)
  return path


def _cell(s):
  return f'{s["mean"]:.3f}' + (f' ± {s["std"]:.3f}' if len(s['values']) > 1 else '')


def markdown(result) -> str:
  b, info = result['budget'], result['eval']
  names = [f'BLEU-{n}' for n in ORDERS] + [f'Self-BLEU-{n}' for n in ORDERS]
  lines = ['# SeqGAN on real text (Lee corpus)', '',
           f'{CONFIG}: gensim\'s Lee background corpus, word level, 20 tokens, 5,000 words, '
           'every tenth sentence held out. Budget: MLE '
           f'{b["mle_steps"]} steps, D pre-training {b["d_pretrain_steps"]} updates, adversarial '
           f'{b["adv_steps"]} iterations of one policy-gradient step and {b["adv_d_steps"]} D '
           f'updates ({b["total_steps"]} steps in all); MLE alone does MLE for all '
           f'{b["total_steps"]} steps. BLEU (nltk, smoothing 1) of {info.get("bleu_samples")} '
           f'samples against {info.get("bleu_references")} held-out sentences; higher BLEU = '
           'closer to the held-out text, lower Self-BLEU = more diverse. Seeds '
           + ', '.join(map(str, result['seeds'])) + ' (mean ± std where more than one).', '',
           '| | step | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 2) + '|']
  rows = [('mle, end', b['total_steps'], result['final']['mle']),
          ('seqgan, end', b['total_steps'], result['final']['seqgan']),
          ('end of MLE (both)', b['mle_steps'], result['after_mle'])]
  for name, step, values in rows:
    lines.append(f'| {name} | {step} | ' + ' | '.join(_cell(values[k]) for k in KEYS) + ' |')
  for name, label in (('training_text', 'training text'), ('held_out_text', 'held-out text')):
    reference = result['references'].get(name, {})
    lines.append(f'| {label} | | ' + ' | '.join(
        f'{reference[k]:.3f}' if k in reference else '' for k in KEYS) + ' |')
  lines += ['', 'Training text: eval.bleu_samples real training sentences scored exactly as G\'s '
            'samples are (BLEU against the held-out sentences, Self-BLEU among themselves): '
            'where a perfect model of the corpus would stand. Held-out text: the first '
            'eval.bleu_samples held-out sentences, each against the others (Self-BLEU only: '
            'their BLEU would use fewer references than G\'s samples get).', '']
  for run in result['runs']:
    lines += [f'## Samples: {run["variant"]}, seed {run["seed"]} '
              f'({run["samples_file"]}, first {len(run["samples"])})', '', '```']
    lines += [line or '(empty: <eos> first)' for line in run['samples']] or ['(no samples file)']
    lines += ['```', '']
  lines += ['Commands (DIR: a workdir):', '']
  for run in result['runs']:
    lines.append(f'- {run["variant"]}, seed {run["seed"]}: `{run["command"]}`')
  lines += ['', f'Wall time {result["seconds"]["total"] / 60:.1f} min on {result["machine"]}.', '']
  return '\n'.join(lines)


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  from jaxgan.evaluate import evaluate_run
  seeds = [int(s) for s in args.seeds.split(',')]
  b = budget(args)
  adv_start, total = b['adversarial_start'], b['total_steps']
  work = os.path.join(args.results, 'tmp', 'seqgan_text')
  start = time.time()
  runs, stage_seconds = [], {}
  for seed in seeds:
    dirs = {name: os.path.join(work, f'{name}_s{seed}') for name in ('mle_phase',) + VARIANTS}
    if args.fresh:
      for workdir in dirs.values():
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = {'mle_phase': train_stage(args, 'seqgan', seed, dirs['mle_phase'], args.mle_steps,
                                        'the MLE phase')}
    for variant in VARIANTS:
      if not os.path.isdir(dirs[variant]):
        shutil.copytree(dirs['mle_phase'], dirs[variant])
    if args.d_pretrain_steps:
      seconds['seqgan_d_pretrain'] = train_stage(args, 'seqgan', seed, dirs['seqgan'], adv_start,
                                                 'seqgan (D pre-training)')
    seconds['seqgan_adversarial'] = train_stage(args, 'seqgan', seed, dirs['seqgan'], total,
                                                'seqgan')
    seconds['mle_rest'] = train_stage(args, 'mle', seed, dirs['mle'], total, 'mle')
    stage_seconds[seed] = seconds
    for variant in VARIANTS:
      _, overrides = make_config(args, variant, seed)
      found = evaluations(dirs[variant], total)
      curve = [{'step': step, **found[step]} for step in sorted(found)]
      samples_file, samples = last_samples(dirs[variant], total)
      runs.append({'variant': variant, 'seed': seed,
                   'workdir': os.path.relpath(dirs[variant], ROOT),
                   'command': command(overrides), 'overrides': overrides,
                   'after_mle': found[args.mle_steps], 'final': found[total], 'curve': curve,
                   'samples_file': samples_file, 'samples': samples})
      print(f'{variant} seed {seed} step {total}: ' +
            ' '.join(f'{k}={found[total][k]:.3f}' for k in KEYS), flush=True)
  # The evaluator's reference points (the held-out text's own Self-BLEU) and a check that the
  # restored final state scores what the loop logged.
  config, _ = make_config(args, 'seqgan', seeds[0])
  workdir = os.path.join(work, f'seqgan_s{seeds[0]}')
  step, metrics, references, info = evaluate_run(workdir, config=config)
  if step != total:
    raise SystemExit(f'seqgan seed {seeds[0]}: its newest checkpoint is at step {step}, not '
                     f'{total}; re-run to resume, or --fresh')
  logged = [r for r in runs if r['variant'] == 'seqgan' and r['seed'] == seeds[0]][0]['final']
  check = {'run': f'seqgan_s{seeds[0]}', 'step': step,
           'max_abs_difference': max(abs(metrics[k] - logged[k]) for k in KEYS)}
  final = {variant: {k: stats([r['final'][k] for r in runs if r['variant'] == variant])
                     for k in KEYS} for variant in VARIANTS}
  after_mle = {k: stats([r['after_mle'][k] for r in runs if r['variant'] == 'seqgan'])
               for k in KEYS}
  import jax
  result = {
      'config': CONFIG, 'dataset': info.get('dataset'),
      'commands': {f'{r["variant"]}_s{r["seed"]}': r['command'] for r in runs},
      'budget': b, 'seeds': seeds,
      'eval': {'metrics': info.get('metrics'), 'metric_keys': list(KEYS),
               'every_steps': args.eval_every,
               'also_at_steps': sorted({args.mle_steps, adv_start, total}),
               'eval_split': info.get('eval_split'), 'bleu_samples': info.get('bleu_samples'),
               'bleu_references': info.get('bleu_references')},
      'config_values': {v: make_config(args, v, seeds[0])[0].to_dict() for v in VARIANTS},
      'runs': runs, 'final': final, 'after_mle': after_mle, 'references': references,
      'evaluate_run_check': check,
      # Of this invocation: a stage resumed here counts only what it trained now.
      'seconds': {'total': time.time() - start, 'stages': stage_seconds},
      'platform': {'machine': platform.machine(), 'system': platform.system(),
                   'python': platform.python_version(), 'jax': jax.__version__,
                   'backend': jax.default_backend(), 'cpu_count': os.cpu_count()},
      'machine': f'{platform.machine()}, {os.cpu_count()} CPU cores (shared), '
                 f'{jax.default_backend()}'}
  text = markdown(result)
  print(text)
  if args.quick:
    return 0
  os.makedirs(args.results, exist_ok=True)
  curve_path = plot(result, os.path.join(args.results, 'seqgan_text_curve.png'))
  result['curve_png'] = os.path.basename(curve_path) if curve_path else None
  with open(os.path.join(args.results, 'seqgan_text.json'), 'w') as f:
    json.dump(result, f, indent=1, default=str)
  with open(os.path.join(args.results, 'seqgan_text.md'), 'w') as f:
    f.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
