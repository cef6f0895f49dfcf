"""cGAN and InfoGAN on the offline digits, judged by the project's digit classifier.

Trains each model with the library's loop (`jaxgan.train.run`, as `launch.py` would), restores
its last checkpoint and measures:
  cGAN:    the percentage of samples that the digit network classifies as the class they were
           generated for (1,000 per class), next to the network's own held-out accuracy;
  InfoGAN: how well the categorical code captures digit identity, from 10,000 samples with
           random codes: purity (each code value's share of its most frequent predicted digit,
           weighted by its samples) and accuracy under the best one-to-one code -> digit map
           (the InfoGAN paper reports 5% error with that map on MNIST).

  python benchmarks/conditional_digits.py --steps=1500          # cgan, cgan_projection, infogan
  python benchmarks/conditional_digits.py --models=infogan_paper --seeds=0,1,2 --steps=1500 \
      --set=train.batch_size=64 --out=benchmarks/results/infogan_paper   # InfoGAN's own nets

With several seeds each run is a row <model>_seed<s>, plus a mean ± std row per model, and
every InfoGAN row gets its code value x predicted digit table in the Markdown.

Writes benchmarks/results/conditional_digits.{json,md} and each model's final sample grid
(conditional_digits_<model>.png: rows are classes, or categorical code values).
"""
import argparse
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

MODELS = {'cgan': 'configs/cgan.py', 'cgan_projection': 'configs/cgan_projection.py',
          'infogan': 'configs/infogan.py', 'infogan_paper': 'configs/infogan_paper.py'}


def config_for(name, steps, overrides):
  """The config a benchmark run of `name` trains with."""
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, MODELS[name]))
  config_lib.apply_overrides(config, [f'train.num_steps={steps}', 'train.progress_bar=no',
                                      f'train.log_every_steps={max(steps // 10, 1)}',
                                      f'train.sample_every_steps={steps}',
                                      f'train.checkpoint_every_steps={steps}'] + list(overrides))
  return config


def train_and_restore(name, steps, workdir, overrides):
  from jaxgan import train
  from jaxgan.evaluate import restore_trained_state
  config = config_for(name, steps, overrides)
  start = time.time()
  final = train.run(config, workdir)
  seconds = time.time() - start
  run, state, step = restore_trained_state(config, workdir)
  trainer = run.trainer
  assert step == steps, (step, steps)
  return config, trainer, state, final, seconds


def cgan_scores(trainer, state, classifier, per_class=1000):
  sample = jax.jit(lambda s, key, labels: trainer.sample(s, key, per_class, labels))
  correct, per_class_acc = 0, []
  for c in range(trainer.num_classes):
    images = sample(state, jax.random.PRNGKey(1000 + c), jnp.full((per_class,), c, jnp.int32))
    predicted = classifier.predict(np.asarray(images))
    per_class_acc.append(float(np.mean(predicted == c)))
    correct += int(np.sum(predicted == c))
  return {'class_match': correct / (per_class * trainer.num_classes),
          'class_match_per_class': per_class_acc, 'samples': per_class * trainer.num_classes}


def infogan_scores(trainer, state, classifier, n=10_000):
  from scipy.optimize import linear_sum_assignment

  @jax.jit
  def sample(s, key):
    latents = trainer.draw_latents(key, n)
    return trainer.generate(s, latents), latents.categorical
  images, codes = sample(state, jax.random.PRNGKey(7))
  predicted = classifier.predict(np.asarray(images))
  codes = np.asarray(codes)
  k = trainer.categories
  table = np.zeros((k, 10), np.int64)             # code value x predicted digit
  np.add.at(table, (codes, predicted), 1)
  purity = float(table.max(axis=1).sum() / n)
  rows, cols = linear_sum_assignment(-table)
  mapped = float(table[rows, cols].sum() / n)
  return {'purity': purity, 'best_map_accuracy': mapped,
          'code_to_digit': {int(r): int(c) for r, c in zip(rows, cols)},
          'digits_covered_by_codes': int(len(set(table.argmax(axis=1).tolist()))),
          'confusion': table.tolist(), 'samples': n}


def q_head_scores(trainer, state, data_config):
  """The paper's own measure: Q's categorical head as a classifier of the real held-out digits
  (InfoGAN reports 5% error on MNIST), best one-to-one map from code values to digits. D runs
  in evaluation mode (BatchNorm running statistics)."""
  from scipy.optimize import linear_sum_assignment

  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics.digits import load_offline_digits
  _, _, images, labels = load_offline_digits(data_dir_of(data_config))
  images = images.astype(np.float32) / 127.5 - 1.0
  _, q, _ = jax.jit(lambda s, x: trainer.discriminate(s.d.params, s.d.batch_stats, x, train=False,
                                                      update_stats=False))(state, images)
  codes = np.asarray(q[:, :trainer.categories]).argmax(1)
  table = np.zeros((trainer.categories, 10), np.int64)
  np.add.at(table, (codes, np.asarray(labels)), 1)
  rows, cols = linear_sum_assignment(-table)
  return {'q_real_best_map_accuracy': float(table[rows, cols].sum() / len(labels)),
          'q_real_examples': int(len(labels))}


def rescore(json_path, out):
  """Adds q_head_scores to every InfoGAN row of an existing report from its run's checkpoint."""
  from jaxgan.evaluate import restore_trained_state
  with open(json_path) as f:
    report = json.load(f)
  for row, entry in report['results'].items():
    if 'best_map_accuracy' not in entry:
      continue
    workdir = os.path.join(out, 'tmp', f'digits_{row}_{report["steps"]}')
    seeds = report.get('seeds', [0])
    config = config_for(entry.get('model', row), report['steps'], report['overrides']
                        + ([f'seed={entry["seed"]}'] if len(seeds) > 1 else []))
    run, state, _ = restore_trained_state(config, workdir)
    entry.update(q_head_scores(run.trainer, state, config.data))
    print(row, entry['q_real_best_map_accuracy'], flush=True)
  with open(json_path, 'w') as f:
    json.dump(report, f, indent=1)
  write_table(report, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default='cgan,cgan_projection,infogan')
  parser.add_argument('--steps', type=int, default=1500)
  parser.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE')
  parser.add_argument('--seeds', default='0',
                      help='comma-separated seeds; more than one gives rows <model>_seed<s> and '
                           'a mean ± std row per model. Seeds add to an earlier sweep in --out '
                           'with the same --steps and --set')
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  parser.add_argument('--table_only', action='store_true',
                      help='rewrite conditional_digits.md from the JSON without training')
  parser.add_argument('--rescore', action='store_true',
                      help="add the Q head's accuracy on real held-out digits to the InfoGAN rows "
                           'of the JSON, from their runs\' checkpoints')
  args = parser.parse_args()
  if args.table_only:
    with open(os.path.join(args.out, 'conditional_digits.json')) as f:
      return write_table(json.load(f), args.out)
  if args.rescore:
    return rescore(os.path.join(args.out, 'conditional_digits.json'), args.out)
  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics.digits import load_digit_classifier
  json_path = os.path.join(args.out, 'conditional_digits.json')
  report = {'steps': args.steps, 'overrides': args.set, 'results': {},
            'command': 'python benchmarks/conditional_digits.py ' + ' '.join(sys.argv[1:])}
  seeds = [int(s) for s in args.seeds.split(',')]
  swept_seeds = set(seeds)
  if os.path.exists(json_path):
    with open(json_path) as f:
      earlier = json.load(f)
    if earlier.get('steps') == args.steps and earlier.get('overrides') == args.set:
      # Same sweep: keep its rows, so `--seeds=2` adds seed 2 to an earlier `--seeds=0,1`.
      report['results'] = earlier['results']
      earlier_seeds = set(earlier.get('seeds', [0]))
      if swept_seeds - earlier_seeds:   # say how the kept rows were made
        report['command'] = f'{earlier["command"]}`, then `{report["command"]}'
      swept_seeds |= earlier_seeds
  report['seeds'] = sorted(swept_seeds)
  per_seed_rows = len(swept_seeds) > 1
  for name, seed in [(n, s) for n in args.models.split(',') for s in seeds]:
    row = f'{name}_seed{seed}' if per_seed_rows else name
    workdir = os.path.join(args.out, 'tmp', f'digits_{row}_{args.steps}')
    config, trainer, state, final, seconds = train_and_restore(
        name, args.steps, workdir, args.set + ([f'seed={seed}'] if per_seed_rows else []))
    classifier = load_digit_classifier(data_dir_of(config.data))
    entry = {'config': MODELS[name], 'model': name, 'seed': config.seed, 'train_seconds': seconds,
             'final_train_metrics': final, 'classifier_test_accuracy': classifier.test_accuracy}
    entry.update(infogan_scores(trainer, state, classifier) if trainer.categories
                 else cgan_scores(trainer, state, classifier))
    if trainer.categories:
      entry.update(q_head_scores(trainer, state, config.data))
    report['results'][row] = entry
    shutil.copyfile(os.path.join(workdir, 'samples', f'step_{args.steps}.png'),
                    os.path.join(args.out, f'conditional_digits_{row}.png'))
    print(row, json.dumps({k: v for k, v in entry.items() if k not in ('confusion',)}), flush=True)
    with open(json_path, 'w') as f:
      json.dump(report, f, indent=1)
  write_table(report, args.out)


def write_table(report, out):
  steps = report['steps']
  lines = ['| model | steps | measure | value | digit network held-out accuracy |',
           '| --- | --- | --- | --- | --- |']
  for name, r in report['results'].items():
    if 'class_match' in r:
      lines.append(f'| {name} | {steps} | samples classified as the requested class | '
                   f'{100 * r["class_match"]:.1f}% | {100 * r["classifier_test_accuracy"]:.1f}% |')
    elif 'q_real_best_map_accuracy' in r:
      lines.append(f'| {name} | {steps} | categorical code purity / best one-to-one map '
                   f'accuracy / Q head on {r["q_real_examples"]} real held-out digits (best map) | '
                   f'{100 * r["purity"]:.1f}% / {100 * r["best_map_accuracy"]:.1f}% / '
                   f'{100 * r["q_real_best_map_accuracy"]:.1f}% | '
                   f'{100 * r["classifier_test_accuracy"]:.1f}% |')
    else:
      lines.append(f'| {name} | {steps} | categorical code purity / best one-to-one map '
                   f'accuracy | {100 * r["purity"]:.1f}% / {100 * r["best_map_accuracy"]:.1f}% | '
                   f'{100 * r["classifier_test_accuracy"]:.1f}% |')
  lines += _seed_summaries(report)
  lines += _code_tables(report)
  with open(os.path.join(out, 'conditional_digits.md'), 'w') as f:
    f.write(f'Command: `{report["command"]}`\n\n' + '\n'.join(lines) + '\n')
  print('\n'.join(lines))


def _seed_summaries(report):
  """Mean ± std over seeds of each InfoGAN model run with more than one seed."""
  by_model = {}
  for r in report['results'].values():
    if 'best_map_accuracy' in r and 'model' in r:
      by_model.setdefault(r['model'], []).append(r)
  lines = []
  for model, rows in by_model.items():
    if len(rows) < 2:
      continue
    purity = 100 * np.array([r['purity'] for r in rows])
    mapped = 100 * np.array([r['best_map_accuracy'] for r in rows])
    q_real = [100 * r['q_real_best_map_accuracy'] for r in rows if 'q_real_best_map_accuracy' in r]
    q_text = (f' / Q on real digits {np.mean(q_real):.1f} ± {np.std(q_real):.1f}%'
              if len(q_real) == len(rows) else '')
    lines.append(f'| {model} (seeds {", ".join(str(r["seed"]) for r in rows)}) | {report["steps"]} | '
                 f'mean ± std over seeds: purity / best one-to-one map accuracy | '
                 f'{purity.mean():.1f} ± {purity.std():.1f}% / {mapped.mean():.1f} ± '
                 f'{mapped.std():.1f}%{q_text} | {100 * rows[0]["classifier_test_accuracy"]:.1f}% |')
  return lines


def _code_tables(report):
  """Per InfoGAN run: each categorical code value's counts over the predicted digits."""
  lines = []
  for row, r in report['results'].items():
    if 'confusion' not in r:
      continue
    lines += ['', f'{row}: samples per categorical code value (rows) and digit the network '
              f'predicts (columns); the best one-to-one map is marked *', '',
              '| code | ' + ' | '.join(str(d) for d in range(10)) + ' | share of its mapped digit |',
              '| --- ' * 12 + '|']
    mapping = {int(k): v for k, v in r['code_to_digit'].items()}
    for code, counts in enumerate(r['confusion']):
      cells = [f'{c}*' if mapping.get(code) == d else str(c) for d, c in enumerate(counts)]
      share = counts[mapping[code]] / max(sum(counts), 1) if code in mapping else 0.0
      lines.append(f'| {code} | ' + ' | '.join(cells) + f' | {100 * share:.0f}% |')
  return lines


if __name__ == '__main__':
  main()
