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
          'infogan': 'configs/infogan.py'}


def train_and_restore(name, steps, workdir, overrides):
  from jaxgan import config as config_lib
  from jaxgan import train
  from jaxgan.evaluate import restore_trained_state
  config = config_lib.load_config_file(os.path.join(ROOT, MODELS[name]))
  config_lib.apply_overrides(config, [f'train.num_steps={steps}', 'train.progress_bar=no',
                                      f'train.log_every_steps={max(steps // 10, 1)}',
                                      f'train.sample_every_steps={steps}',
                                      f'train.checkpoint_every_steps={steps}'] + list(overrides))
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default='cgan,cgan_projection,infogan')
  parser.add_argument('--steps', type=int, default=1500)
  parser.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE')
  parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
  parser.add_argument('--table_only', action='store_true',
                      help='rewrite conditional_digits.md from the JSON without training')
  args = parser.parse_args()
  if args.table_only:
    with open(os.path.join(args.out, 'conditional_digits.json')) as f:
      return write_table(json.load(f), args.out)
  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics.digits import load_digit_classifier
  json_path = os.path.join(args.out, 'conditional_digits.json')
  report = {'steps': args.steps, 'overrides': args.set, 'results': {},
            'command': 'python benchmarks/conditional_digits.py ' + ' '.join(sys.argv[1:])}
  if os.path.exists(json_path):
    with open(json_path) as f:
      earlier = json.load(f)
    if earlier.get('steps') == args.steps and earlier.get('overrides') == args.set:
      report['results'] = earlier['results']
  for name in args.models.split(','):
    workdir = os.path.join(args.out, 'tmp', f'digits_{name}_{args.steps}')
    config, trainer, state, final, seconds = train_and_restore(name, args.steps, workdir, args.set)
    classifier = load_digit_classifier(data_dir_of(config.data))
    entry = {'config': MODELS[name], 'train_seconds': seconds, 'final_train_metrics': final,
             'classifier_test_accuracy': classifier.test_accuracy}
    entry.update(infogan_scores(trainer, state, classifier) if trainer.categories
                 else cgan_scores(trainer, state, classifier))
    report['results'][name] = entry
    shutil.copyfile(os.path.join(workdir, 'samples', f'step_{args.steps}.png'),
                    os.path.join(args.out, f'conditional_digits_{name}.png'))
    print(name, json.dumps({k: v for k, v in entry.items() if k not in ('confusion',)}), flush=True)
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
    else:
      lines.append(f'| {name} | {steps} | categorical code purity / best one-to-one map '
                   f'accuracy | {100 * r["purity"]:.1f}% / {100 * r["best_map_accuracy"]:.1f}% | '
                   f'{100 * r["classifier_test_accuracy"]:.1f}% |')
  with open(os.path.join(out, 'conditional_digits.md'), 'w') as f:
    f.write(f'Command: `{report["command"]}`\n\n' + '\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
