"""A trained run read back from its workdir: what distillation (the teacher), pruning and
quantization (the net to compress) start from.

`load_trained_gan(workdir, field, data_info)` checks that `workdir` holds a DCGAN run of the
adversarial family on data of the same shape, then restores its newest good checkpoint onto
the host; `load_trained_translator` does the same for a pix2pix run (the teacher of
configs/distill_pix2pix.py, the net configs/prune_pix2pix.py prunes). Every failure is a one-line UserError naming `field` (the config
field or flag that gave the workdir). Only the checkpoint is read: no dataset is loaded.
"""
import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import CheckpointError, ConfigError, UserError

TRAIN_A_DCGAN = 'train one first: python launch.py --config=configs/dcgan.py --workdir=DIR'
TRAIN_A_PIX2PIX = 'train one first: python launch.py --config=configs/pix2pix.py --workdir=DIR'


@dataclasses.dataclass
class TrainedRun:
  workdir: str
  config: Any        # the run's resolved config (its config.json)
  trainer: Any       # the trainer built from that config
  state: Any         # its state on the host (numpy leaves), newest good checkpoint
  step: int


def _read_config(workdir: str, field: str, how_to_train: str):
  from jaxgan.evaluate import load_run_config
  if not workdir:
    raise ConfigError(f'{field} is not set; point it at the workdir of a trained run '
                      f'({how_to_train})')
  if not os.path.isdir(workdir):
    raise ConfigError(f'{field}={workdir!r} does not exist; {how_to_train}')
  try:
    return load_run_config(workdir)
  except UserError as e:
    raise ConfigError(f'{field}={workdir!r} is not a usable training run: {e}') from None


def read_gan_config(workdir: str, field: str):
  """The config of the DCGAN run in `workdir`, or a one-line error naming `field`."""
  config = _read_config(workdir, field, TRAIN_A_DCGAN)
  family = config.get('trainer')
  generator = config.get('model', {}).get('generator')
  if family != 'adversarial' or generator != 'dcgan':
    raise ConfigError(f'{field}={workdir!r} is a {family!r} run with generator {generator!r}; '
                      f'it must be a DCGAN run (trainer adversarial, model.generator dcgan): '
                      f'{TRAIN_A_DCGAN}')
  return config


def read_translator_config(workdir: str, field: str):
  """The config of the float pix2pix run in `workdir`, or a one-line error naming `field`."""
  config = _read_config(workdir, field, TRAIN_A_PIX2PIX)
  family = config.get('trainer')
  if family != 'pix2pix':
    raise ConfigError(f'{field}={workdir!r} is a {family!r} run; it must be a pix2pix run '
                      f'(trainer pix2pix): {TRAIN_A_PIX2PIX}')
  if 'quantize' in config:
    raise ConfigError(f'{field}={workdir!r} is an int8 pix2pix run; point it at the float run '
                      'it was compressed from')
  return config


def _restore(workdir: str, field: str, config, trainer, example_batch) -> TrainedRun:
  """The newest good checkpoint of `workdir` in `trainer`'s structure, onto the host."""
  from jaxgan.checkpointing import Checkpoints
  from jaxgan.trainers import state_structure
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoint_dir):
    raise CheckpointError(f'{field}={workdir!r} has no checkpoints; train it first')
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
                        state_structure(trainer, example_batch, 0))
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints, read_only=True)
  try:
    state, step = checkpoints.restore_latest(lambda step: target)
  finally:
    checkpoints.close()
  if step is None:
    raise CheckpointError(f'{field}={workdir!r} has no checkpoints; train it first')
  return TrainedRun(workdir, config, trainer, jax.tree.map(np.asarray, state), int(step))


def load_trained_gan(workdir: str, field: str, data_info) -> TrainedRun:
  """The DCGAN run in `workdir` (see the module docstring), restored onto the host."""
  from jaxgan.trainers import make_trainer
  config = read_gan_config(workdir, field)
  trainer = make_trainer(config, data_info)
  if trainer.image_shape != tuple(data_info.image_shape):
    raise ConfigError(f'{field}={workdir!r} was trained on {trainer.image_shape} images, this run '
                      f'uses {tuple(data_info.image_shape)}; set data.* as that run did')
  example = {'image': jnp.zeros((1, 2 * trainer.pack_size) + trainer.image_shape, jnp.float32),
             'label': jnp.zeros((1, 2), jnp.int32)}
  return _restore(workdir, field, config, trainer, example)


def load_trained_translator(workdir: str, field: str, data_info,
                            config_check: Callable[[Any], None] = lambda config: None
                            ) -> TrainedRun:
  """The pix2pix run in `workdir`, restored onto the host. `config_check(its config)` raises
  where that run cannot serve (before anything is restored)."""
  from jaxgan.trainers import make_trainer
  config = read_translator_config(workdir, field)
  config_check(config)
  trainer = make_trainer(config, data_info)
  example = {'a': jnp.zeros((1, 1) + tuple(data_info.image_shape), jnp.float32),
             'b': jnp.zeros((1, 1) + tuple(data_info.target_shape), jnp.float32)}
  return _restore(workdir, field, config, trainer, example)


def require_same_fields(config, other, group: str, names, who: str, why: str) -> None:
  """ConfigError naming the first of `group`.`names` where `config` differs from `other` (the
  config of the run `who` describes), with `why` it must match and the value to set."""
  for name in names:
    mine, theirs = config[group].get(name), other[group].get(name)
    if mine != theirs:
      raise ConfigError(f'{group}.{name}={mine!r}, and {who} has {theirs!r}; {why}: set '
                        f'--config.{group}.{name}={theirs!r}')


def check_same_latents(config, teacher_config, field: str) -> None:
  """The student (or pruned net) must read the latents the teacher reads."""
  for name in ('latent_dim', 'conditioning', 'label_embed_dim'):
    mine, theirs = config.model.get(name), teacher_config.model.get(name)
    if mine != theirs:
      raise ConfigError(f'model.{name}={mine!r}, and the run in {field} was trained with '
                        f'{theirs!r}; the compressed generator reads the same latents: set '
                        f'--config.model.{name}={theirs!r}')
  for name in ('categories', 'continuous'):
    if config.info.get(name) != teacher_config.info.get(name):
      raise ConfigError(f'info.{name} must match the run in {field} '
                        f'({teacher_config.info.get(name)!r})')
