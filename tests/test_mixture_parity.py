"""The 2-D mixture benchmark's nets and steps against their PyTorch originals
(benchmarks/torch_originals/mixtures.py): plain GAN, PacGAN2, minibatch discrimination,
WGAN-GP and the unrolled GAN.

For each variant (its configs/mixture_*.py, narrowed; depth, objective, optimizer, penalty and
unrolling are the config's own):
  - porting jaxgan -> PyTorch -> jaxgan is exact;
  - forward: G in training and evaluation mode (BatchNorm batch statistics, running averages)
    and D on packed points agree to 1e-5 relative in float32, and the running statistics a
    training-mode pass leaves agree too;
  - two full training steps from the same weights (fresh optimizers, then moments carried on
    each side), with the same real batches, latents and penalty draws: in float64 every leaf
    of both players' parameters and G's BatchNorm statistics agrees to 1e-9 relative (the two
    compute the same function), and in float32 (the plain GAN: the same code path at the
    precision runs use) each player's parameters to 1e-4 relative (L2 over the player) and
    the losses to 1e-5. The differential benchmark (benchmarks/mixture_differential.py)
    follows every variant in float32 over whole runs.
At initialisation G's gradients are tiny (1e-9 to 1e-6, below and near Adam's eps), so
Adam's first step amplifies any difference in them about lr / eps = 1e4 times: that is why
the float64 comparison is the strict one (even XLA's fusion choices move some float64
BatchNorm-bias updates by 1e-8 relative; with XLA's defaults both sides agree to 1e-9).
"""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import mixtures as torch_mixtures  # noqa: E402
from jaxgan import config as config_lib  # noqa: E402
from jaxgan.data import mixtures  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402

torch.set_num_threads(1)

NARROW = ('model.g_hidden=(16, 16, 16, 16)', 'model.d_hidden=(12, 12, 12)',
          'model.minibatch_kernels=4', 'model.minibatch_kernel_dim=3', 'train.batch_size=16')
VARIANTS = {
    'gan': ('mixture_gan', ()),
    'pacgan2': ('mixture_pacgan', ('model.pack=2',)),
    'minibatch': ('mixture_minibatch', ()),
    'wgan_gp': ('mixture_wgan_gp', ('train.d_steps=2',)),   # the loop over critic updates
    'unrolled': ('mixture_unrolled', ('train.unroll_steps=2',)),
}
INFO = mixtures.MixtureInfo('grid25', (2,), 25, 0, 6.0)


def build(variant):
  module, overrides = VARIANTS[variant]
  config = importlib.import_module(f'configs.{module}').get_config()
  config_lib.apply_overrides(config, NARROW + overrides)
  config_lib.validate(config)
  trainer = make_trainer(config, INFO)
  example = {'image': jnp.zeros((config.train.d_steps, config.train.batch_size, 2)),
             'label': jnp.zeros((config.train.d_steps, config.train.batch_size), jnp.int32)}
  state = trainer.init(jax.random.PRNGKey(3), example)
  return config, trainer, state


def as_dtype(tree, dtype):
  return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
                      tree)


def max_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def l2_rel(a, b):
  flat = lambda t: np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(t)])
  a, b = flat(a), flat(b)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def real_batch(config, seed, dtype):
  means = jnp.asarray(mixtures.MIXTURES['grid25'][0], dtype)
  points, _ = mixtures.sample(jax.random.PRNGKey(seed), means, 0.05,
                              config.train.d_steps * config.train.batch_size)
  shape = (config.train.d_steps, config.train.batch_size)
  return {'image': points.reshape(shape + (2,)).astype(dtype),
          'label': jnp.zeros(shape, jnp.int32)}


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_porting_round_trip_and_forward_match_pytorch(variant):
  config, trainer, state = build(variant)
  # Give G's running statistics values other than their initial 0 and 1.
  z = jax.random.normal(jax.random.PRNGKey(1), (32, config.model.latent_dim))
  _, stats = trainer.generator.apply({'params': state.g.params, 'batch_stats': state.g.batch_stats},
                                     2.0 * z + 0.5, train=True, mutable=['batch_stats'])
  state = state.replace(g=state.g.replace(batch_stats=stats['batch_stats']))
  tgan = torch_mixtures.torch_pair(config, state)
  params_g, stats_g = torch_mixtures.torch_to_params(tgan.netG)
  params_d, _ = torch_mixtures.torch_to_params(tgan.netD)
  for mine, back in ((state.g.params, params_g), (state.g.batch_stats, stats_g),
                     (state.d.params, params_d)):
    assert jax.tree.structure(jax.tree.map(np.asarray, mine)) == jax.tree.structure(back)
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, mine), back)

  z = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (16, config.model.latent_dim)))
  for train in (False, True):
    tgan.netG.train(train)
    with torch.no_grad():
      t_points = tgan.netG(torch.from_numpy(z))
      t_logits = tgan.D(t_points)
    out = trainer.generator.apply({'params': state.g.params, 'batch_stats': state.g.batch_stats},
                                  z, train=train, mutable=['batch_stats'] if train else False)
    j_points, j_stats = out if train else (out, None)
    j_logits, _, _ = trainer.discriminate(state.d.params, state.d.batch_stats, j_points)
    assert max_rel(j_points, t_points.numpy()) < 1e-5, (variant, train)
    assert max_rel(j_logits, t_logits.numpy()) < 1e-5, (variant, train)
    if train:   # the running statistics that pass leaves (PyTorch: unbiased variance)
      assert l2_rel(j_stats['batch_stats'], torch_mixtures.torch_to_params(tgan.netG)[1]) < 1e-5


def _two_steps(variant, dtype):
  """Two steps on each side from the same weights, after each: (jaxgan state, PyTorch's
  (G params, G batch stats, D params) in jaxgan's layout, jaxgan metrics, PyTorch losses)."""
  config, trainer, state = build(variant)
  state = as_dtype(state, dtype)
  tgan = torch_mixtures.torch_pair(config, state, torch.float64 if dtype == jnp.float64 else torch.float32)
  step = jax.jit(trainer.make_step())
  out = []
  for i in range(2):
    batch = real_batch(config, 10 + i, dtype)
    key = jax.random.PRNGKey(20 + i)
    state, metrics = step(state, batch, key)
    losses = tgan.step(*torch_mixtures.step_inputs(trainer, batch, key))
    torch_state = torch_mixtures.torch_to_params(tgan.netG) + torch_mixtures.torch_to_params(tgan.netD)[:1]
    out.append((state, torch_state, metrics, losses))
  return out


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_training_steps_match_pytorch_float64(variant):
  with jax.enable_x64(True):
    for i, (state, (params_g, stats_g, params_d), metrics, losses) in enumerate(
        _two_steps(variant, jnp.float64)):
      for metric, loss in ((metrics['d_loss'], losses[0]), (metrics['g_loss'], losses[1])):
        assert abs(float(metric) - float(loss)) <= 1e-9 * max(1.0, abs(float(loss))), (variant, i)
      for name, mine, theirs in (('g', state.g.params, params_g), ('g stats', state.g.batch_stats, stats_g),
                                 ('d', state.d.params, params_d)):
        errors = jax.tree.map(max_rel, jax.tree.map(np.asarray, mine), theirs)
        worst = max(jax.tree.leaves(errors))
        assert worst < 1e-9, (variant, i, name, errors)


@pytest.mark.parametrize('variant', ['gan'])
def test_training_steps_match_pytorch_float32(variant):
  for i, (state, (params_g, stats_g, params_d), metrics, losses) in enumerate(
      _two_steps(variant, jnp.float32)):
    for metric, loss in ((metrics['d_loss'], losses[0]), (metrics['g_loss'], losses[1])):
      assert abs(float(metric) - float(loss)) <= 1e-5 * max(1.0, abs(float(loss))), (variant, i)
    assert l2_rel(state.g.params, params_g) < 1e-4, (variant, i)
    assert l2_rel(state.d.params, params_d) < 1e-4, (variant, i)
    assert l2_rel(state.g.batch_stats, stats_g) < 1e-4, (variant, i)
