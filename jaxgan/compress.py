"""Writes the compressed generator of a trained run as a workdir of its own:

  python -m jaxgan.compress --workdir=RUN --out=OUT --method=dense|int8|int8_weights

What applies to which family:

  dense          a prune run (configs/prune_dcgan.py): the pruned channels cut out, a DCGAN of
                 width prune.g_features; a distill run (configs/distill_dcgan.py): the student
                 alone, without its teacher. Either becomes a plain adversarial run (trainer
                 adversarial) that can be evaluated, sampled and trained further. A
                 distill_pix2pix run (configs/distill_pix2pix.py): its student and
                 discriminator as a plain pix2pix run, translated, evaluated, trained further
                 or compressed again (--method=int8_weights) as any pix2pix run; a
                 prune_pix2pix run (configs/prune_pix2pix.py): the pruned channels cut out,
                 a pix2pix run of width prune.g_features.
  int8           an image-GAN run (adversarial family) whose generator is DCGAN: int8 weights
                 and int8 inputs to its transposed convolutions, calibrated on
                 --calibration_batches sampling batches (jaxgan/quantization.py); trainer
                 quantized.
  int8_weights   int8 weights only, one float scale per output channel: an image-GAN run with
                 any generator (trainer quantized), or an image-to-image run (pix2pix: its
                 generator; CycleGAN: both directions' generators), which keeps its trainer
                 and gains the config group quantize (quantize.activations=False): its state
                 is the int8 generator(s) alone, dequantized whenever it translates
                 (jaxgan/trainers/image_to_image.py).

Image-to-image runs take int8_weights only, and distill_pix2pix and prune_pix2pix runs dense
only: the other methods are one-line errors (exit 2).
OUT then holds config.json and checkpoints/ like any run, so `python -m jaxgan.evaluate
--workdir=OUT` scores it (an image GAN: add --config.eval.metrics="('sample_quality',
'efficiency')" for its parameters, MACs and latency) and, for an image-to-image run, `python
-m jaxgan.translate --workdir=OUT --input=PATH --output=DIR` translates with it. An int8 run
is never trained. The newest checkpoint of RUN is used; its step is kept, and train.num_steps
is set to it. Exit status: 0 done, 2 bad input (one line on stderr).
"""
import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgan.errors import ConfigError, UserError, WorkdirError

METHODS = ('dense', 'int8', 'int8_weights')
COMPRESSION_GROUPS = ('prune', 'distill', 'quantize')


def _plain_config(config, **model_fields) -> ml_collections.ConfigDict:
  """`config` as an adversarial run of its own: compression groups gone, model fields set."""
  out = config.copy_and_resolve_references()
  with out.unlocked():
    for group in COMPRESSION_GROUPS:
      if group in out:
        del out[group]
    out.trainer = 'adversarial'
    for name, value in model_fields.items():
      out.model[name] = value
  return out


def dense_generator(run, state):
  """(config, GANState) of a prune or distill run's generator as a plain DCGAN run."""
  from jaxgan.trainers import make_trainer
  from jaxgan.trainers.adversarial import GANState
  from jaxgan.trainers.players import Player
  config = run.config
  if config.trainer == 'prune':
    params, stats = run.trainer.dense(state)
    dense_config = _plain_config(config, g_features=int(config.prune.g_features))
  elif config.trainer == 'distill':
    params, stats = state.g.params, state.g.batch_stats
    dense_config = _plain_config(config)
  else:
    raise ConfigError(f'--method=dense exports a prune or distill run, and this is a '
                      f'{config.trainer!r} run')
  trainer = make_trainer(dense_config, run.source.info)
  params, stats = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, stats)
  g = Player(params, stats, trainer.g_tx.init(params))
  return dense_config, GANState(step=jnp.asarray(state.step), g=g, d=state.d)


def int8_generator(run, state, activations: bool, calibration_batches: int):
  """(config, QuantizedState) of a run's generator in int8."""
  from jaxgan.trainers import make_trainer
  from jaxgan.trainers.adversarial import GANState
  config = run.config
  if not hasattr(state, 'g') or config.trainer == 'quantized':
    raise ConfigError(f'--method=int8 quantizes an image-GAN run, and this is a '
                      f'{config.trainer!r} run')
  if config.trainer == 'prune':   # quantize the smaller dense net, not the masked one
    config, state = dense_generator(run, state)
  quantized = _plain_config(config)
  with quantized.unlocked():
    quantized.trainer = 'quantized'
    quantized.quantize = ml_collections.ConfigDict(
        {'activations': activations, 'calibration_batches': calibration_batches})
  from jaxgan import config as config_lib
  config_lib.validate(quantized)
  trainer = make_trainer(quantized, run.source.info)
  return quantized, jax.jit(trainer.quantize)(GANState(state.step, state.g, state.d))


def is_image_to_image(config) -> bool:
  return config.data.get('source', '') == 'image_to_image'


def check_image_to_image_method(config, method: str, workdir: str) -> None:
  """ConfigError unless `method` applies to the image-to-image run `config` (before restoring)."""
  trainer = config.trainer
  if 'quantize' in config:
    raise ConfigError(f'{workdir} is already an int8 {trainer} run (its config.json has '
                      f'quantize); compress the float run it came from')
  if trainer in ('distill_pix2pix', 'prune_pix2pix'):
    if method != 'dense':
      raise ConfigError(f'a {trainer} run is exported with --method=dense (its generator alone, '
                        f'as a pix2pix run); compress that run with --method={method}')
    return
  if method == 'dense':
    raise ConfigError(f'--method=dense exports a prune or distill run, and this is a '
                      f'{trainer!r} run; an image-to-image generator is compressed with '
                      f'--method=int8_weights')
  if method == 'int8':
    raise ConfigError(f'--method=int8 (int8 activations) needs a DCGAN generator, and this is '
                      f'a {trainer!r} run; --method=int8_weights quantizes its generator\'s '
                      f'weights')


def dense_translator(run, state):
  """(config, Pix2PixState) of a distill_pix2pix run (its student) or a prune_pix2pix run (the
  pruned channels cut out, width prune.g_features) as a plain pix2pix run with the run's
  discriminator; for distillation, pix2pix.l1_weight is its reconstruction weight."""
  from jaxgan import config as config_lib
  from jaxgan.trainers import make_trainer
  from jaxgan.trainers.image_to_image import Pix2PixState
  from jaxgan.trainers.players import Player
  distilled = run.config.trainer == 'distill_pix2pix'
  config = run.config.copy_and_resolve_references()
  with config.unlocked():
    if distilled:
      config.pix2pix = ml_collections.ConfigDict(
          {'l1_weight': float(config.distill.reconstruction_weight)})
      del config['distill']
    else:
      config.model.g_features = int(config.prune.g_features)
      del config['prune']
    config.trainer = 'pix2pix'
  config_lib.validate(config)
  if distilled:   # the student keeps its optimizer state: same shapes, same optimizer
    return config, Pix2PixState(step=state.step, g=state.g, d=state.d)
  params, stats = run.trainer.dense(state)
  trainer = make_trainer(config, run.source.info)
  params, stats = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, stats)
  g = Player(params, stats, trainer.g_tx.init(params))
  return config, Pix2PixState(step=jnp.asarray(state.step), g=g, d=state.d)


def int8_translator(run, state):
  """(config, QuantizedState) of an image-to-image run's generator(s) with int8 weights: the
  same trainer, with the group quantize (quantize.activations=False)."""
  from jaxgan import config as config_lib
  quantized = run.config.copy_and_resolve_references()
  with quantized.unlocked():
    quantized.quantize = ml_collections.ConfigDict({'activations': False})
  config_lib.validate(quantized)
  # The run's own trainer quantizes: quantize reads only the float state's generator(s).
  return quantized, jax.jit(run.trainer.quantize)(state)


def write_run(config, state, out: str) -> str:
  """Writes `config` (train.num_steps set to the state's step) and `state` as the run in `out`."""
  from jaxgan.checkpointing import Checkpoints
  from jaxgan.train import check_workdir
  if os.path.exists(os.path.join(out, 'checkpoints')) or os.path.exists(
      os.path.join(out, 'config.json')):
    raise WorkdirError(f'--out={out!r} already holds a run; pass a new folder')
  check_workdir(out)
  step = int(np.asarray(state.step))
  with config.unlocked():
    config.train.num_steps = max(step, 1)
  with open(os.path.join(out, 'config.json'), 'w') as f:
    json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)
  checkpoints = Checkpoints(os.path.join(out, 'checkpoints'), config.train.keep_checkpoints)
  try:
    checkpoints.save(step, state)
    checkpoints.wait()
  finally:
    checkpoints.close()
  return out


def compress(workdir: str, out: str, method: str, calibration_batches: int = 4):
  """Compresses the newest checkpoint of `workdir` into the run `out`; returns its config."""
  from jaxgan.evaluate import load_run_config, restore_trained_state
  if method not in METHODS:
    raise ConfigError(f'--method must be one of {", ".join(METHODS)}; got {method!r}')
  if calibration_batches < 1:
    raise ConfigError(f'--calibration_batches must be >= 1, got {calibration_batches}')
  config = load_run_config(workdir)
  if is_image_to_image(config):
    check_image_to_image_method(config, method, workdir)
  run, state, _ = restore_trained_state(config, workdir)
  if is_image_to_image(config):
    translator = dense_translator if method == 'dense' else int8_translator
    new_config, new_state = translator(run, state)
  elif method == 'dense':
    new_config, new_state = dense_generator(run, state)
  else:
    new_config, new_state = int8_generator(run, state, method == 'int8', calibration_batches)
  write_run(new_config, new_state, out)
  return new_config


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True, help='the --workdir of a trained run')
  parser.add_argument('--out', required=True, help='a new folder for the compressed run')
  parser.add_argument('--method', required=True, choices=METHODS)
  parser.add_argument('--calibration_batches', type=int, default=4,
                      help='int8: sampling batches the activation scales are taken from')
  try:
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  except SystemExit as e:
    return 2 if e.code else 0
  try:
    config = compress(args.workdir, args.out, args.method, args.calibration_batches)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if is_image_to_image(config):
    what = 'int8 weights' if 'quantize' in config else f'model.g_features {config.model.g_features}'
    print(f'written: {args.out} (trainer {config.trainer}, {what}); translate with python '
          f'-m jaxgan.translate --workdir={args.out}, score it with python -m jaxgan.evaluate '
          f'--workdir={args.out}')
  else:
    print(f'written: {args.out} (trainer {config.trainer}, model.g_features '
          f'{config.model.g_features}); score it with python -m jaxgan.evaluate '
          f'--workdir={args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
