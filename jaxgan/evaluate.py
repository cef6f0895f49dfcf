"""Evaluates the latest checkpoint of a run: python -m jaxgan.evaluate --workdir=DIR [--config.eval.FIELD=VALUE ...]

The config is rebuilt from DIR/config.json (written by every run), the newest readable
checkpoint is restored, and the metrics of jaxgan/metrics are printed next to their reference
points and written to DIR/eval/step_<N>.json. Overrides change how it is evaluated, e.g.
`--config.eval.num_samples=10000`. Exit status: 0 done, 2 bad input (one line on stderr).
"""
import argparse
import json
import os
import sys
from typing import Dict, Optional, Sequence, Tuple

import ml_collections

from jaxgan.errors import CheckpointError, UserError, WorkdirError


def load_run_config(workdir: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """The resolved config a run saved in DIR/config.json, with `a.b=value` overrides applied."""
  from jaxgan import config as config_lib
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise WorkdirError(f'{path} does not exist; is {workdir!r} the --workdir of a training run?')
  try:
    with open(path) as f:
      config = ml_collections.ConfigDict(json.load(f))
  except ValueError as e:
    raise WorkdirError(f'{path} is not valid JSON ({e})') from None
  config_lib.apply_overrides(config, overrides)
  config_lib.validate(config)
  return config


def restore_trained_state(config, workdir: str):
  """(dataset, trainer, mesh, state, step) of the newest good checkpoint of the run in
  `workdir`, trained with `config`; CheckpointError if there is none."""
  import jax

  from jaxgan import parallel
  from jaxgan.checkpointing import Checkpoints
  from jaxgan.data import load_dataset
  from jaxgan.trainers import example_batch, make_trainer

  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoint_dir):
    raise CheckpointError(f'no checkpoints in {workdir} (no {checkpoint_dir}); train first')
  mesh = parallel.make_mesh()
  dataset = load_dataset(config.data)
  trainer = make_trainer(config, dataset.info)
  example = example_batch(trainer, config.train.batch_size, dataset.info.image_shape)
  # The structure and shardings train.py builds, as shapes only (no need to compile init):
  # Orbax restores into them exactly.
  replicated = parallel.replicated(mesh)
  target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
                        jax.eval_shape(trainer.init, jax.random.PRNGKey(0), example))
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints)
  try:
    state, step = checkpoints.restore_latest(target)
  finally:
    checkpoints.close()
  if step is None:
    raise CheckpointError(f'no checkpoints in {checkpoint_dir}; train first')
  return dataset, trainer, mesh, state, int(step)


def evaluate_run(workdir: str, overrides: Sequence[str] = (),
                 config: Optional[ml_collections.ConfigDict] = None
                 ) -> Tuple[int, Dict[str, float], Dict[str, Dict[str, float]], dict]:
  """Restores the newest checkpoint in `workdir` and evaluates it.

  Returns (step, metrics, reference points, info) where info describes the evaluation
  (feature network, sample counts, classifier accuracy).
  """
  from jaxgan.metrics import make_evaluator

  config = config if config is not None else load_run_config(workdir, overrides)
  dataset, trainer, mesh, state, step = restore_trained_state(config, workdir)
  with_references = config.eval.reference_points
  with config.unlocked():
    config.eval.reference_points = False  # returned apart below, not mixed into the metrics
  evaluator = make_evaluator(config, dataset, trainer, mesh)
  metrics = evaluator(state, step)
  references = evaluator.reference_points() if with_references else {}
  info = {'step': step, 'dataset': dataset.name, 'eval_split': config.data.eval_split,
          'feature_net': evaluator.net.name, 'num_samples': evaluator.num_samples,
          'num_real': evaluator.num_real}
  classifier = getattr(evaluator.net, 'classifier', None)
  if classifier is not None:
    info['classifier_test_accuracy'] = classifier.test_accuracy
  return step, metrics, references, info


def format_table(metrics: Dict[str, float], references: Dict[str, Dict[str, float]]) -> str:
  """Metrics as rows, the run and each reference point as columns."""
  columns = ['run'] + list(references)
  lines = [f'{"metric":<20}' + ''.join(f'{c:>14}' for c in columns)]
  for name, value in metrics.items():
    row = [value] + [references[c].get(name, float('nan')) for c in references]
    lines.append(f'{name:<20}' + ''.join(f'{v:>14.5g}' for v in row))
  return '\n'.join(lines)


def parse_args(argv):
  parser = argparse.ArgumentParser(description='Evaluate the latest checkpoint of a jaxgan run.',
                                   epilog='Evaluation settings can be changed: --config.eval.num_samples=10000')
  parser.add_argument('--workdir', required=True, help='the --workdir of a training run')
  known, rest = parser.parse_known_args(argv)
  overrides = []
  for arg in rest:
    if not arg.startswith('--config.'):
      raise SystemExit(f'error: unknown argument {arg!r}; config fields are set as --config.FIELD=VALUE')
    overrides.append(arg[len('--config.'):])
  return known, overrides


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    args, overrides = parse_args(argv)
  except SystemExit as e:
    if isinstance(e.code, str):
      print(e.code, file=sys.stderr)
    return 2 if e.code else 0
  try:
    step, metrics, references, info = evaluate_run(args.workdir, overrides)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{args.workdir}: step {step}, {info["num_samples"]} samples against {info["num_real"]} '
        f'held-out {info["dataset"]} images ({info["eval_split"]}), {info["feature_net"]} features')
  print(format_table(metrics, references))
  out = os.path.join(args.workdir, 'eval', f'step_{step}.json')
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, 'w') as f:
    json.dump({'info': info, 'metrics': metrics, 'references': references}, f, indent=2)
  print(f'written: {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
