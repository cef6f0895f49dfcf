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
  """(run, state, step) of the newest good checkpoint of the run in `workdir`, trained with
  `config` (`run` is train.Run: source, trainer, mesh); CheckpointError if there is none."""
  from jaxgan import train
  from jaxgan.checkpointing import Checkpoints

  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoint_dir):
    raise CheckpointError(f'no checkpoints in {workdir} (no {checkpoint_dir}); train first')
  run = train.build(config)
  # The structure and shardings train.py builds for each step, as shapes only (nothing is
  # compiled): Orbax restores into them exactly.
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints, read_only=True)
  try:
    state, step = checkpoints.restore_latest(run.state_target)
  finally:
    checkpoints.close()
  if step is None:
    raise CheckpointError(f'no checkpoints in {checkpoint_dir}; train first')
  return run, state, int(step)


def evaluate_run(workdir: str, overrides: Sequence[str] = (),
                 config: Optional[ml_collections.ConfigDict] = None
                 ) -> Tuple[int, Dict[str, float], Dict[str, Dict[str, float]], dict]:
  """Restores the newest checkpoint in `workdir` and runs the evaluators of `eval.metrics`.

  Returns (step, metrics, reference points, info) where info describes the evaluation
  (dataset, sample counts, feature network and classifier accuracy, likelihood settings).
  """
  from jaxgan.metrics import make_evaluators

  config = config if config is not None else load_run_config(workdir, overrides)
  run, state, step = restore_trained_state(config, workdir)
  with_references = config.eval.reference_points
  with config.unlocked():
    config.eval.reference_points = False  # returned apart below, not mixed into the metrics
  evaluators = make_evaluators(config, run.source, run.trainer.functions(), run.mesh)
  metrics = evaluators(state, step)
  references = evaluators.reference_points() if with_references else {}
  info = {'step': step, 'dataset': run.source.name, 'eval_split': config.data.eval_split,
          'metrics': list(config.eval.metrics), **evaluators.describe()}
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
  from jaxgan.config import command_line_overrides
  try:
    return known, command_line_overrides(rest)
  except UserError as e:
    raise SystemExit(f'error: {e}') from None


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
  print(f'{args.workdir}: step {step}, {", ".join(info["metrics"])} on held-out '
        f'{info["dataset"]} ({info["eval_split"]}): ' +
        ', '.join(f'{k}={v}' for k, v in info.items()
                  if k not in ('step', 'dataset', 'eval_split', 'metrics')))
  print(format_table(metrics, references))
  out = os.path.join(args.workdir, 'eval', f'step_{step}.json')
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, 'w') as f:
    json.dump({'info': info, 'metrics': metrics, 'references': references}, f, indent=2)
  print(f'written: {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
