"""train.compute_dtype=bfloat16: bfloat16 activations and products, float32 state and losses."""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.data import DatasetInfo
from jaxgan.trainers import make_trainer
from tests.test_adversarial import batch_for, shrink

DIGITS = DatasetInfo('offline_mnist', (28, 28, 1), 10, 4500)


@pytest.mark.parametrize('name', ['dcgan', 'vae'])
def test_bfloat16_compute_trains_with_float32_state(name):
  def build(dtype):
    config = importlib.import_module(f'configs.{name}').get_config()
    if config.trainer == 'adversarial':
      config = shrink(config)
    else:
      config.model.hidden = (32,)
      config.train.batch_size = 8
    config.train.compute_dtype = dtype
    trainer = make_trainer(config, DIGITS)
    k = getattr(trainer, 'batches_per_step', 1)
    batch = {'image': jax.random.uniform(jax.random.PRNGKey(0), (k, config.train.batch_size, 28, 28, 1),
                                         jnp.float32, -1, 1),
             'label': jnp.zeros((k, config.train.batch_size), jnp.int32)}
    return trainer, batch

  f32, batch = build('float32')
  bf16, _ = build('bfloat16')
  state = f32.init(jax.random.PRNGKey(1), batch)
  assert jax.tree.structure(bf16.init(jax.random.PRNGKey(1), batch)) == jax.tree.structure(state)
  steps = {t: jax.jit(t.make_step()) for t in (f32, bf16)}
  states = {f32: state, bf16: state}
  for i in range(3):
    for t in (f32, bf16):
      states[t], metrics = steps[t](states[t], batch, jax.random.PRNGKey(i))
      assert all(np.isfinite(float(v)) and jnp.result_type(v) == jnp.float32
                 for v in metrics.values()), metrics
  for leaf in jax.tree.leaves(states[bf16]):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert leaf.dtype == jnp.float32
  # Really computed in bfloat16: close to the float32 run, not equal to it.
  sample = {t: np.asarray(jax.jit(t.functions()['sample'], static_argnums=2)(
      states[f32], jax.random.PRNGKey(5), 8)) for t in (f32, bf16)}
  assert sample[bf16].dtype == np.float32
  difference = np.abs(sample[bf16] - sample[f32]).max()
  assert 0 < difference < 0.1, difference


def test_the_wrapped_net_computes_in_bfloat16():
  from jaxgan.trainers.players import MixedPrecision
  config = shrink(importlib.import_module('configs.dcgan').get_config())
  trainer = make_trainer(config, DIGITS)
  state = trainer.init(jax.random.PRNGKey(0), batch_for(trainer, config, DIGITS))
  net = MixedPrecision(trainer.generator, 'bfloat16')
  z = jnp.ones((2, config.model.latent_dim))
  inner = jax.make_jaxpr(lambda p: net.apply({'params': p, 'batch_stats': state.g.batch_stats}, z,
                                             train=False))(state.g.params)
  convolutions = [e for e in inner.eqns if e.primitive.name == 'conv_general_dilated']
  assert convolutions and all(v.aval.dtype == jnp.bfloat16 for e in convolutions for v in e.invars)
  assert inner.out_avals[0].dtype == jnp.float32
