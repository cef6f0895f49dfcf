"""A test-only trainer with two phases whose state changes shape at the boundary, so the loop's
phase handling (enter_phase, one program per phase, restore into the right structure, batch
indices across phases with different batches per step) can be tested without any family.

Importing this module registers it as 'test_two_phase'. Phase 'small' (4 steps, 1 batch per
step) trains a 3-vector; entering phase 'large' (2 batches per step) appends two entries drawn
from the phase key. Each step sleeps `SLEEP_S` on the host (an io_callback), so a test can
kill the process between given checkpoints.
"""
import os
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from jaxgan.trainers import TRAINERS, Phase, Trainer

BOUNDARY = 4
SLEEP_S = float(os.environ.get('JAXGAN_TEST_STEP_SLEEP', '0'))


@flax.struct.dataclass
class ToyState:
  step: jax.Array
  w: jax.Array


def _pause():
  time.sleep(SLEEP_S)
  return np.float32(0)


class TwoPhaseTrainer(Trainer):

  def __init__(self, config, data_info):
    self.config = config

  def phases(self):
    return [Phase('small', BOUNDARY, 1), Phase('large', None, 2)]

  def init(self, key, example_batch):
    del example_batch
    return ToyState(step=jnp.zeros((), jnp.int32), w=jax.random.normal(key, (3,)))

  def enter_phase(self, state, index, key):
    assert index == 1
    return state.replace(w=jnp.concatenate([state.w, jax.random.normal(key, (2,))]))

  def make_step(self, phase=0):
    def step(state, batch, key):
      target = jnp.mean(batch['image'], axis=(1, 2, 3, 4))       # one value per batch
      w = state.w - 0.1 * (state.w - jnp.mean(target)) + 0.01 * jax.random.normal(key, state.w.shape)
      pause = io_callback(_pause, jax.ShapeDtypeStruct((), jnp.float32))
      return state.replace(step=state.step + 1, w=w), {'w_mean': jnp.mean(w) + pause,
                                                       'batches': jnp.float32(target.shape[0])}
    return step

  def previews(self, state, preview_batch, key):
    del preview_batch, key
    return {'samples': jnp.broadcast_to(jnp.tanh(state.w)[:, None, None, None],
                                        (state.w.shape[0], 2, 2, 1))}


if 'test_two_phase' not in TRAINERS:
  TRAINERS.register('test_two_phase')(TwoPhaseTrainer)
