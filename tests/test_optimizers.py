"""Optimizers and learning-rate schedules by name (jaxgan/optimizers.py)."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan import optimizers
from jaxgan.errors import ConfigError


def _optim(**fields):
  base = dict(name='sgd', b1=0.9, b2=0.999, eps=1e-8, rms_decay=0.99, schedule='constant',
              warmup_steps=0, decay_start_step=0)
  base.update(fields)
  return ml_collections.ConfigDict(base)


def _rates(optim, lr, total, steps):
  """The learning rate each SGD update applies: minus the update of a unit gradient."""
  tx = optimizers.make_optimizer(optim, lr, total)
  params = jnp.zeros(())
  state = tx.init(params)
  rates = []
  for _ in range(steps):
    updates, state = tx.update(jnp.ones(()), state, params)
    rates.append(-float(updates))
  return np.array(rates)


def test_linear_decay_is_constant_then_falls_linearly_to_zero_at_the_last_step():
  rates = _rates(_optim(schedule='linear_decay', decay_start_step=100), 2e-4, 200, 200)
  np.testing.assert_allclose(rates[:101], 2e-4, rtol=1e-6)
  np.testing.assert_allclose(rates[150], 1e-4, rtol=1e-5)          # half way down
  np.testing.assert_allclose(rates[199], 2e-4 / 100, rtol=1e-4)    # one step from zero
  assert np.all(np.diff(rates[100:]) < 0)


def test_warmup_cosine_rises_then_decays():
  rates = _rates(_optim(schedule='warmup_cosine', warmup_steps=10), 1.0, 100, 100)
  np.testing.assert_allclose(rates[:11], np.linspace(0, 1, 11), atol=1e-6)
  assert np.all(np.diff(rates[10:]) <= 1e-7) and rates[-1] < 0.01


def test_constant_rate_keeps_the_optimizer_state_free_of_a_step_count():
  # So checkpoints of constant-rate runs keep the structure they always had.
  tx = optimizers.make_optimizer(_optim(name='adam'), 1e-3, 100)
  structure = jax.tree_util.tree_structure
  assert structure(tx.init(jnp.zeros(3))) == structure(optax.adam(1e-3).init(jnp.zeros(3)))


def test_schedule_fields_are_checked():
  config = ml_collections.ConfigDict({'optim': _optim(schedule='linear_decay', decay_start_step=500, lr=1e-3),
                                      'train': {'num_steps': 500}})
  with pytest.raises(ConfigError, match='optim.decay_start_step=500 must be below train.num_steps=500'):
    optimizers.validate(config, ('lr',))
  config.optim.schedule = 'exponential'
  with pytest.raises(ConfigError, match='optim.schedule must be one of constant, linear_decay, linear_decay_second_half, warmup_cosine'):
    optimizers.validate(config, ('lr',))
