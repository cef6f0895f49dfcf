"""A trained image GAN read back from its workdir: what distillation (the teacher), pruning and
quantization (the net to compress) start from.

`load_trained_gan(workdir, field, data_info)` checks that `workdir` holds a DCGAN run of the
adversarial family on data of the same shape, then restores its newest good checkpoint onto
the host. Every failure is a one-line UserError naming `field` (the config field or flag that
gave the workdir). Only the checkpoint is read: no dataset is loaded.
"""
import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import CheckpointError, ConfigError, UserError

TRAIN_A_DCGAN = 'train one first: python launch.py --config=configs/dcgan.py --workdir=DIR'


@dataclasses.dataclass
class TrainedGAN:
  workdir: str
  config: Any        # the run's resolved config (its config.json)
  trainer: Any       # an AdversarialTrainer built from that config
  state: Any         # GANState on the host (numpy leaves), newest good checkpoint
  step: int


def read_gan_config(workdir: str, field: str):
  """The config of the DCGAN run in `workdir`, or a one-line error naming `field`."""
  from jaxgan.evaluate import load_run_config
  if not workdir:
    raise ConfigError(f'{field} is not set; point it at the workdir of a trained DCGAN run '
                      f'({TRAIN_A_DCGAN})')
  if not os.path.isdir(workdir):
    raise ConfigError(f'{field}={workdir!r} does not exist; {TRAIN_A_DCGAN}')
  try:
    config = load_run_config(workdir)
  except UserError as e:
    raise ConfigError(f'{field}={workdir!r} is not a usable training run: {e}') from None
  family = config.get('trainer')
  generator = config.get('model', {}).get('generator')
  if family != 'adversarial' or generator != 'dcgan':
    raise ConfigError(f'{field}={workdir!r} is a {family!r} run with generator {generator!r}; '
                      f'it must be a DCGAN run (trainer adversarial, model.generator dcgan): '
                      f'{TRAIN_A_DCGAN}')
  return config


def load_trained_gan(workdir: str, field: str, data_info) -> TrainedGAN:
  """The DCGAN run in `workdir` (see the module docstring), restored onto the host."""
  from jaxgan.checkpointing import Checkpoints
  from jaxgan.trainers import make_trainer, state_structure
  config = read_gan_config(workdir, field)
  trainer = make_trainer(config, data_info)
  if trainer.image_shape != tuple(data_info.image_shape):
    raise ConfigError(f'{field}={workdir!r} was trained on {trainer.image_shape} images, this run '
                      f'uses {tuple(data_info.image_shape)}; set data.* as that run did')
  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoint_dir):
    raise CheckpointError(f'{field}={workdir!r} has no checkpoints; train it first')
  example = {'image': jnp.zeros((1, 2 * trainer.pack_size) + trainer.image_shape, jnp.float32),
             'label': jnp.zeros((1, 2), jnp.int32)}
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
                        state_structure(trainer, example, 0))
  checkpoints = Checkpoints(checkpoint_dir, config.train.keep_checkpoints, read_only=True)
  try:
    state, step = checkpoints.restore_latest(lambda step: target)
  finally:
    checkpoints.close()
  if step is None:
    raise CheckpointError(f'{field}={workdir!r} has no checkpoints; train it first')
  return TrainedGAN(workdir, config, trainer, jax.tree.map(np.asarray, state), int(step))


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
