"""ProGAN (jaxgan/trainers/progan.py, jaxgan/architectures/progan.py): its layers against hand
computations, the fade-in at both ends, growing, a run across stage boundaries and resume."""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import progan as progan_config
from jaxgan import config as config_lib
from jaxgan import train
from jaxgan.architectures import progan as nets
from jaxgan.data import DatasetInfo
from jaxgan.errors import ConfigError
from jaxgan.trainers import make_trainer
from tests.conftest import launch, read_checkpoint

WIDTHS = (8, 8, 8)


def tiny_progan(image_size=8, **fields):
  config = progan_config.get_config()
  config.data.image_size = image_size
  config.data.resize = 'resize'                # 28 -> 8: shrink (configs/progan.py pads to 32)
  config.model.latent_dim = 8
  config.model.widths = WIDTHS
  config.train.batch_size = 8
  config.progan.images_per_phase = 16          # 2 steps a phase
  config.progan.batch_sizes = ()               # train.batch_size at every resolution
  config.train.num_steps = 6                   # stable_4, fade_8, stable_8
  config.train.log_every_steps = 2
  config.train.sample_every_steps = 2
  config.train.checkpoint_every_steps = 2
  config.train.grid_size = 4
  config.train.progress_bar = 'no'
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  return config


def _rng(seed, shape):
  return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def test_equalized_lr_layers_scale_unit_normal_weights_by_gain_over_sqrt_fan_in():
  x = _rng(0, (5, 12))
  dense = nets.EqDense(7)
  stored = np.asarray(nets.EqDense(256).init(jax.random.PRNGKey(0), np.zeros((1, 64)))['params']['kernel'])
  assert abs(stored.std() - 1.0) < 0.03 and abs(stored.mean()) < 0.03      # stored N(0, 1)
  w = _rng(9, (12, 7))
  params = {'kernel': w, 'bias': _rng(1, (7,))}
  want = x @ (w * math.sqrt(2.0) / math.sqrt(12)) + params['bias']
  np.testing.assert_allclose(dense.apply({'params': params}, x), want, rtol=1e-5, atol=1e-5)
  unit = nets.EqDense(7, gain=1.0).apply({'params': params}, x)
  np.testing.assert_allclose(unit, x @ (w / math.sqrt(12)) + params['bias'], rtol=1e-5, atol=1e-5)

  # A 3x3 conv: fan_in = 3 * 3 * C_in; checked at the centre pixel of a 3x3 image by hand.
  image = _rng(2, (1, 3, 3, 4))
  conv = nets.EqConv(5)
  kernel = _rng(3, (3, 3, 4, 5))
  out = conv.apply({'params': {'kernel': kernel, 'bias': np.zeros(5, np.float32)}}, image)
  centre = np.einsum('hwi,hwio->o', image[0], kernel) * math.sqrt(2.0) / math.sqrt(36)
  np.testing.assert_allclose(out[0, 1, 1], centre, rtol=1e-5, atol=1e-5)


def test_minibatch_stddev_matches_a_hand_computation():
  x = _rng(4, (8, 3, 3, 5))
  out = np.asarray(nets.minibatch_stddev(jnp.asarray(x), 4))
  assert out.shape == (8, 3, 3, 6)
  np.testing.assert_array_equal(out[..., :5], x)
  m = 8 // 4
  for i in range(8):
    members = x[i % m::m]                       # samples i, i + 2, i + 4, i + 6
    assert len(members) == 4
    std = np.sqrt(((members - members.mean(0)) ** 2).mean(0) + 1e-8)
    np.testing.assert_allclose(out[i, :, :, 5], np.full((3, 3), std.mean()), rtol=1e-5)
  # Members of different groups differ; a group of identical samples gives sqrt(1e-8).
  assert not np.allclose(out[0, 0, 0, 5], out[1, 0, 0, 5])
  same = np.asarray(nets.minibatch_stddev(jnp.ones((4, 2, 2, 3)), 4))
  np.testing.assert_allclose(same[..., 3], 1e-4, rtol=1e-4)


def _without(params, name):
  return {k: v for k, v in params.items() if k != name}


def test_fade_in_is_the_lower_resolution_at_alpha_0_and_the_higher_at_alpha_1():
  z = jnp.asarray(_rng(5, (4, 8)))
  fading = nets.ProGenerator(level=1, fade=True, widths=WIDTHS)
  params = fading.init(jax.random.PRNGKey(0), z, 0.5)['params']
  assert {'block_4', 'block_8', 'to_rgb_4', 'to_rgb_8'} == set(params)
  low = nets.ProGenerator(level=0, widths=WIDTHS).apply(
      {'params': {k: params[k] for k in ('block_4', 'to_rgb_4')}}, z, 1.0)
  high = nets.ProGenerator(level=1, widths=WIDTHS).apply(
      {'params': _without(params, 'to_rgb_4')}, z, 1.0)
  assert low.shape == (4, 4, 4, 1) and high.shape == (4, 8, 8, 1)
  np.testing.assert_allclose(fading.apply({'params': params}, z, 0.0), nets.upsample2x(low),
                             atol=1e-6)
  np.testing.assert_allclose(fading.apply({'params': params}, z, 1.0), high, atol=1e-6)
  half = fading.apply({'params': params}, z, 0.5)
  np.testing.assert_allclose(half, 0.5 * (nets.upsample2x(low) + high), atol=1e-5)
  assert not np.allclose(nets.upsample2x(low), high, atol=1e-3)   # the two ends differ

  x = jnp.asarray(_rng(6, (4, 8, 8, 1)))
  d_fading = nets.ProDiscriminator(level=1, fade=True, widths=WIDTHS)
  d_params = d_fading.init(jax.random.PRNGKey(1), x, 0.5)['params']
  assert {'block_4', 'block_8', 'from_rgb_4', 'from_rgb_8'} == set(d_params)
  d_low = nets.ProDiscriminator(level=0, widths=WIDTHS).apply(
      {'params': {k: d_params[k] for k in ('block_4', 'from_rgb_4')}}, nets.downsample2x(x), 1.0)
  d_high = nets.ProDiscriminator(level=1, widths=WIDTHS).apply(
      {'params': _without(d_params, 'from_rgb_4')}, x, 1.0)
  assert d_low.shape == (4,)
  np.testing.assert_allclose(d_fading.apply({'params': d_params}, x, 0.0), d_low, atol=1e-5)
  np.testing.assert_allclose(d_fading.apply({'params': d_params}, x, 1.0), d_high, atol=1e-5)
  assert not np.allclose(d_low, d_high, atol=1e-3)


def test_real_images_are_faded_like_the_generator():
  config = tiny_progan()
  trainer = make_trainer(config, DatasetInfo('t', (8, 8, 1), 0, 0))
  x = jnp.asarray(_rng(7, (2, 8, 8, 1)))
  blurred = nets.upsample2x(nets.downsample2x(x))
  np.testing.assert_allclose(trainer.real_images(x, 1, True, 0.0), blurred, atol=1e-6)
  np.testing.assert_allclose(trainer.real_images(x, 1, True, 1.0), x, atol=1e-6)
  np.testing.assert_allclose(trainer.real_images(x, 0, False, 1.0),
                             x.reshape(2, 4, 2, 4, 2, 1).mean((2, 4)), atol=1e-6)
  # alpha runs from 0 at a fade phase's first step to 1 at its end.
  assert float(trainer.alpha(jnp.asarray(2), 1)) == 0.0
  assert float(trainer.alpha(jnp.asarray(3), 1)) == 0.5
  assert float(trainer.alpha(jnp.asarray(3), 2)) == 1.0


def _leaves(tree):
  return {jax.tree_util.keystr(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _moved(trainer, state, seed):
  """`state` after one Adam update of both players with random gradients (and EMA != G)."""
  def update(player, key):
    leaves, tree = jax.tree.flatten(player.params)
    grads = jax.tree.unflatten(tree, [jax.random.normal(jax.random.fold_in(key, i), leaf.shape)
                                      for i, leaf in enumerate(leaves)])
    updates, opt_state = trainer.tx.update(grads, player.opt_state, player.params)
    return player.replace(params=jax.tree.map(jnp.add, player.params, updates), opt_state=opt_state)
  key = jax.random.PRNGKey(seed)
  g = update(state.g, jax.random.fold_in(key, 0))
  return state.replace(g=g, d=update(state.d, jax.random.fold_in(key, 1)),
                       g_ema=jax.tree.map(lambda e, p: 0.5 * (e + p), state.g_ema, g.params))


def test_growing_carries_every_parameter_and_resets_adam_at_a_new_resolution():
  config = tiny_progan()
  trainer = make_trainer(config, DatasetInfo('t', (8, 8, 1), 0, 0))
  batch = {'image': jnp.asarray(np.tanh(_rng(8, (1, 8, 8, 8, 1))))}
  state = _moved(trainer, trainer.init(jax.random.PRNGKey(0), batch), 1)
  grown = trainer.enter_phase(state, 1, jax.random.PRNGKey(9))
  assert set(grown.g.params) == {'block_4', 'block_8', 'to_rgb_4', 'to_rgb_8'}
  assert set(grown.d.params) == {'block_4', 'block_8', 'from_rgb_4', 'from_rgb_8'}
  for old, new in ((state.g.params, grown.g.params), (state.d.params, grown.d.params),
                   (state.g_ema, grown.g_ema)):
    old_leaves, new_leaves = _leaves(old), _leaves(new)
    assert set(old_leaves) < set(new_leaves)
    for name, value in old_leaves.items():
      np.testing.assert_array_equal(new_leaves[name], value, err_msg=name)
  # the EMA's new layers start at the generator's
  np.testing.assert_array_equal(grown.g_ema['block_8']['conv0']['kernel'],
                                grown.g.params['block_8']['conv0']['kernel'])
  # Adam before growing had moved; after, every moment and count is zero.
  assert any(np.abs(v).max() > 0 for v in _leaves(state.g.opt_state).values())
  for player in (grown.g, grown.d):
    assert all(np.all(v == 0) for v in _leaves(player.opt_state).values())
    assert _leaves(player.opt_state).keys() == _leaves(trainer.tx.init(player.params)).keys()

  # Fade -> stable (same resolution): the lower to-RGB/from-RGB go, the rest and Adam stay.
  grown = _moved(trainer, grown, 2)
  stable = trainer.enter_phase(grown, 2, jax.random.PRNGKey(10))
  assert set(stable.g.params) == {'block_4', 'block_8', 'to_rgb_8'}
  for old, new in ((grown.g.params, stable.g.params), (grown.d.params, stable.d.params),
                   (grown.g.opt_state, stable.g.opt_state)):
    old_leaves = _leaves(old)
    for name, value in _leaves(new).items():
      np.testing.assert_array_equal(value, old_leaves[name], err_msg=name)


def _run_args(data_dir, **fields):
  config = tiny_progan(**fields)
  config.data.data_dir = data_dir
  return config


def test_run_grows_across_stages_writes_previews_and_resumes_bit_exact(data_dir, tmp_path):
  # Minibatch 8 at 4x4 and 4 at 8x8 (16 images a phase): stable_4 is 2 steps, fade_8 4,
  # stable_8 the rest.
  config = _run_args(data_dir, **{'progan.batch_sizes': (8, 4), 'train.num_steps': 8})
  run_ = train.build(config)
  assert [(s.phase.name, s.start, s.batch_size) for s in run_.spans] == [
      ('stable_4', 0, 8), ('fade_8', 2, 4), ('stable_8', 6, 4)]
  assert run_.example_batch(run_.spans[1])['image'].shape == (1, 4, 8, 8, 1)
  straight = tmp_path / 'straight'
  metrics = train.run(config, str(straight))
  assert metrics is not None and np.isfinite(metrics['d_loss'])
  samples = sorted(os.listdir(straight / 'samples'))
  assert samples == ['step_2.png', 'step_4.png', 'step_6.png', 'step_8.png'], samples
  from PIL import Image
  for name in samples:     # full-size grids at every stage: 2 x 2 images of 8 x 8
    assert Image.open(straight / 'samples' / name).size[0] >= 16
  want = read_checkpoint(str(straight / 'checkpoints'), 8)
  assert any('block_8' in name for name in want)
  assert not any('to_rgb_4' in name for name in want)      # stable_8 structure

  # Stop at the stable_4 -> fade_8 boundary (the checkpoint at step 2 has the 4x4 structure
  # and was trained on batches of 8), resume: fade_8 entered from the checkpoint, on batches
  # of 4, as the uninterrupted run entered it; stop again mid-fade (step 4, alpha 0.5) and
  # resume to 8.
  resumed = tmp_path / 'resumed'
  for steps in (2, 4, 8):
    config.train.num_steps = steps
    train.run(config, str(resumed))
  got = read_checkpoint(str(resumed / 'checkpoints'), 8)
  assert want.keys() == got.keys() and len(want) > 10
  for name in want:
    assert np.array_equal(want[name], got[name]), name


def test_bad_progan_config_values_are_rejected_in_one_line(tmp_path):
  for field, value, message in (
      ('data.image_size', 28, 'data.image_size=28 must be a power of two'),
      ('model.widths', (8,), 'model.widths needs one width per resolution from 4 to 8 (2), got 1'),
      ('progan.images_per_phase', 4, 'progan.images_per_phase=4 must be at least'),
      ('progan.ema', 1.5, 'progan.ema must be in [0.0, 1.0]'),
      ('model.mbstd_group', 3, 'must be a multiple of model.mbstd_group=3'),
      ('progan.batch_sizes', (8,), 'progan.batch_sizes needs one minibatch per resolution'),
      ('progan.batch_sizes', (8, 6), 'progan.batch_sizes[1]=6 must be a multiple of '
       'model.mbstd_group=4')):
    config = tiny_progan()
    group, name = field.split('.')
    config[group][name] = value
    with pytest.raises(ConfigError, match='') as error:
      config_lib.validate(config)
    assert message in str(error.value) and '\n' not in str(error.value), str(error.value)
  result = launch(['--config=configs/progan.py', f'--workdir={tmp_path / "x"}',
                   '--config.data.image_size=24'])
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and 'data.image_size=24 must be a power of two' in lines[0], lines
  assert not os.path.exists(tmp_path / 'x' / 'checkpoints')
