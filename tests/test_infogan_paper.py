"""InfoGAN's own MNIST nets (jaxgan/architectures/infogan.py, configs/infogan_paper.py): the
layer sizes of the paper, one body under D's logit and the Q head, and a few training steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import infogan_paper
from jaxgan import config as config_lib
from jaxgan.data.images import DatasetInfo
from jaxgan.errors import ConfigError
from jaxgan.trainers import make_trainer

DIGITS = DatasetInfo('offline_mnist', (28, 28, 1), 10, 4500)
# Compilation is most of this file's time; XLA's cheapest settings halve it.
COMPILE_FAST = {'xla_backend_optimization_level': 0, 'xla_llvm_disable_expensive_passes': True}


def _batch(config, seed=0):
  b = config.train.batch_size
  return {'image': jax.random.uniform(jax.random.PRNGKey(seed), (1, b, 28, 28, 1), jnp.float32, -1, 1),
          'label': jnp.zeros((1, b), jnp.int32)}


def test_paper_config_builds_the_papers_layers():
  """Shapes only (nothing computed): G FC 1024 -> FC 7x7x128 -> up 64 -> up 1; D conv 64 ->
  conv 128 -> FC 1024 shared by the logit and Q (FC 128 -> 10 + 2 codes); the paper's rates."""
  config = infogan_paper.get_config()
  config_lib.validate(config)
  assert (config.optim.d_lr, config.optim.g_lr, config.optim.b1) == (2e-4, 1e-3, 0.5)
  assert (config.info.categories, config.info.continuous, config.model.latent_dim) == (10, 2, 62)
  trainer = make_trainer(config, DIGITS)
  state = jax.eval_shape(lambda: trainer.init(jax.random.PRNGKey(0), _batch(config)))
  g = jax.tree.map(lambda x: x.shape, state.g.params)
  d = jax.tree.map(lambda x: x.shape, state.d.params)
  assert g['linear_0']['kernel'] == (62 + 10 + 2, 1024)
  assert g['linear_1']['kernel'] == (1024, 7 * 7 * 128)
  assert g['up_0']['kernel'] == (4, 4, 128, 64) and g['up_1']['kernel'] == (4, 4, 64, 1)
  assert set(state.g.batch_stats) == {'bn_linear_0', 'bn_linear_1', 'bn_up_0'}
  assert d['down_0']['kernel'] == (4, 4, 1, 64) and d['down_1']['kernel'] == (4, 4, 64, 128)
  assert d['linear_0']['kernel'] == (7 * 7 * 128, 1024)
  assert d['out']['kernel'] == (1024, 1)
  assert d['q_hidden']['kernel'] == (1024, 128) and d['q_out']['kernel'] == (128, 12)
  assert set(state.d.batch_stats) == {'bn_down_1', 'bn_linear_0', 'bn_q_hidden'}


def test_paper_nets_train_a_few_steps():
  config = infogan_paper.get_config()
  config_lib.apply_overrides(config, ['model.g_hidden=(16,)', 'model.d_hidden=(16,)',
                                      'model.g_features=4', 'model.d_features=4',
                                      'model.q_hidden=8', 'train.batch_size=8'])
  trainer = make_trainer(config, DIGITS)
  batch = _batch(config)
  state = trainer.init(jax.random.PRNGKey(0), batch)
  before = state
  step = jax.jit(trainer.make_step(), compiler_options=COMPILE_FAST)
  for i in range(3):
    state, metrics = step(state, batch, jax.random.PRNGKey(i))
  for name in ('d_loss', 'g_loss', 'info_loss', 'g_info_loss'):
    assert np.isfinite(float(metrics[name])), name
  # The MI term trains Q and the shared body (D's player) and the generator.
  for params, name in ((state.d.params, 'q_out'), (state.d.params, 'linear_0'),
                       (state.g.params, 'linear_0')):
    old = before.d.params[name] if params is state.d.params else before.g.params[name]
    assert float(jnp.max(jnp.abs(params[name]['kernel'] - old['kernel']))) > 0, name
  grid = jax.eval_shape(lambda: trainer.previews(state, None, jax.random.PRNGKey(0)))['samples']
  assert grid.shape == (10, 8, 28, 28, 1)   # one row per categorical value


def test_paper_nets_refuse_sizes_they_cannot_build():
  config = infogan_paper.get_config()
  with pytest.raises(ConfigError, match='multiple of 4'):
    make_trainer(config, DatasetInfo('x', (30, 30, 1), 10, 100))
