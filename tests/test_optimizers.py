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


@pytest.mark.parametrize('b1', [0.5, 0.9])   # both of PyTorch's lerp forms
def test_adam_follows_pytorch_and_optax_to_float_precision(b1):
  import torch
  optim = _optim(name='adam', b1=b1, b2=0.99, eps=1e-8)
  tx, reference = optimizers.make_optimizer(optim, 1e-2, 10), optax.adam(1e-2, b1=b1, b2=0.99)
  rng = np.random.default_rng(0)
  grads = rng.normal(size=(6, 4, 5)).astype(np.float32) * np.float32(1e-3)
  params = np.ones((4, 5), np.float32)
  ours = theirs = jnp.asarray(params)
  state, ref_state = tx.init(ours), reference.init(theirs)
  weight = torch.nn.Parameter(torch.from_numpy(params.copy()))
  torch_adam = torch.optim.Adam([weight], lr=1e-2, betas=(b1, 0.99), eps=1e-8)
  for g in grads:
    updates, state = tx.update(jnp.asarray(g), state, ours)
    ours = optax.apply_updates(ours, updates)
    updates, ref_state = reference.update(jnp.asarray(g), ref_state, theirs)
    theirs = optax.apply_updates(theirs, updates)
    weight.grad = torch.from_numpy(g.copy())
    torch_adam.step()
  np.testing.assert_allclose(ours, weight.detach().numpy(), rtol=0, atol=2.5e-7)   # 2 ulps at 1
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=2.5e-7)
  assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(ref_state)


def test_the_compiled_adam_update_writes_its_moments_in_place():
  """The reason Adam is written in PyTorch's order: XLA:CPU then updates the donated moments in
  place instead of copying them first (an extra pass over the largest arrays every step). A
  failure here means XLA's fusion choices changed: re-measure the MLP GAN's step."""
  import re
  tx = optimizers.make_optimizer(_optim(name='adam', b1=0.5), 2e-4, 10)
  params = {'kernel': jnp.ones((256, 128)), 'bias': jnp.ones((128,))}

  def update(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state
  compiled = jax.jit(update, donate_argnums=(0, 1)).lower(
      params, tx.init(params), params).compile().as_text()
  copies = re.findall(r'= f32\[[0-9,]*\]\{[0-9,]*\} copy\(', compiled)
  assert not copies, copies


def test_schedule_fields_are_checked():
  config = ml_collections.ConfigDict({'optim': _optim(schedule='linear_decay', decay_start_step=500, lr=1e-3),
                                      'train': {'num_steps': 500}})
  with pytest.raises(ConfigError, match='optim.decay_start_step=500 must be below train.num_steps=500'):
    optimizers.validate(config, ('lr',))
  config.optim.schedule = 'exponential'
  with pytest.raises(ConfigError, match='optim.schedule must be one of constant, linear_decay, linear_decay_second_half, warmup_cosine'):
    optimizers.validate(config, ('lr',))
