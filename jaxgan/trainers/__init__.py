"""Training schemes. Every trainer follows one small protocol, so `train.py` runs them all:

  trainer = make_trainer(config, data_info)       # builds modules; raises ConfigError early
  trainer.batches_per_step                        # real batches one step consumes
  state = trainer.init(key, example_batch)        # a flax.struct dataclass with a `step` field
  step = trainer.make_step()                      # pure: (state, batch, key) -> (state, metrics)
  images = trainer.sample(state, key, n)          # [n, H, W, C] in [-1, 1]
  images = trainer.grid(state, key)               # what samples/step_<N>.png shows,
  trainer.grid_columns                            #   laid out in this many columns (None: square)

`batch` holds 'image' [batches_per_step, B, H, W, C] in [-1, 1] and 'label' [batches_per_step, B].
"""
from jaxgan.registry import Registry

TRAINERS = Registry('trainer')

from jaxgan.trainers import adversarial  # noqa: E402,F401


def make_trainer(config, data_info):
  return TRAINERS.get(config.trainer, 'trainer')(config, data_info)


def example_batch(trainer, batch_size: int, item_shape):
  """The all-zero batch whose shapes `trainer.init` traces (see the protocol above)."""
  import jax.numpy as jnp
  k = trainer.batches_per_step
  return {'image': jnp.zeros((k, batch_size) + tuple(item_shape), jnp.float32),
          'label': jnp.zeros((k, batch_size), jnp.int32)}
