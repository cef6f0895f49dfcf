"""The adversarial family as configurations of the one step: penalties, clipping, unrolling,
InfoGAN codes, conditioning, minibatch features, packing, the mixture source and metrics."""
import importlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import regularizers, reporting
from jaxgan.data.images import DatasetInfo
from jaxgan.data import mixtures
from jaxgan.trainers import make_trainer
from jaxgan.trainers.adversarial import Latents, pack

DIGITS = DatasetInfo('offline_mnist', (28, 28, 1), 10, 4500)
POINTS = mixtures.MixtureInfo('grid25', (2,), 25, 0, 6.0)


def shrink(config):
  """Any config at a size that compiles and runs in seconds on CPU."""
  config.model.g_features = 4
  config.model.d_features = 4
  config.model.g_hidden = tuple(8 for _ in config.model.g_hidden)
  config.model.d_hidden = tuple(8 for _ in config.model.d_hidden)
  config.model.minibatch_kernels = 3
  config.model.minibatch_kernel_dim = 2
  config.model.q_hidden = 8
  config.model.latent_dim = min(config.model.latent_dim, 8)
  config.train.batch_size = 4 * config.model.pack
  config.train.d_steps = min(config.train.d_steps, 2)
  config.train.unroll_steps = min(config.train.unroll_steps, 2)
  config.train.grid_size = 20
  return config


def batch_for(trainer, config, info, seed=0):
  k, b = trainer.batches_per_step, config.train.batch_size
  key_image, key_label = jax.random.split(jax.random.PRNGKey(seed))
  return {'image': jax.random.uniform(key_image, (k, b) + tuple(info.image_shape), jnp.float32, -1, 1),
          'label': jax.random.randint(key_label, (k, b), 0, max(info.num_classes, 1))}


# -- gradient penalty ------------------------------------------------------------------------

def test_gradient_penalty_equals_the_hand_value_for_a_linear_critic():
  """D(x) = <w, x> + b has gradient w at every x, so the penalty is (||w||_2 - 1)^2 with the
  norm over all of H, W and C; a norm over one axis only (the known PyTorch slip) differs."""
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  w = jax.random.normal(keys[0], (5, 6, 3))            # ||w|| about sqrt(90), far from 1
  real = jax.random.normal(keys[1], (7, 5, 6, 3))
  fake = jax.random.normal(keys[2], (7, 5, 6, 3))

  def critic(x):
    return jnp.einsum('bhwc,hwc->b', x, w) + 0.3

  got = float(regularizers.gradient_penalty(critic, real, fake, keys[3]))
  expected = (float(jnp.sqrt(jnp.sum(w ** 2))) - 1.0) ** 2
  assert got == pytest.approx(expected, rel=1e-5)
  wrong_axis = float(jnp.mean((jnp.sqrt(jnp.sum(jnp.broadcast_to(w, real.shape) ** 2, axis=1)) - 1) ** 2))
  assert abs(wrong_axis - expected) > 1.0
  # A unit-norm linear critic pays nothing.
  unit = w / jnp.sqrt(jnp.sum(w ** 2))
  zero = regularizers.gradient_penalty(lambda x: jnp.einsum('bhwc,hwc->b', x, unit), real, fake,
                                       keys[3])
  assert float(zero) == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_uses_interpolates_between_real_and_fake():
  """For D(x) = 0.5 ||x||^2 the gradient is x itself, so the penalty reveals the interpolates:
  each lies on the segment between its real and fake sample."""
  real = jnp.array([[3.0, 0.0], [0.0, 5.0]])
  fake = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  for seed in range(5):
    got = float(regularizers.gradient_penalty(lambda x: 0.5 * jnp.sum(x ** 2, -1), real, fake,
                                              jax.random.PRNGKey(seed)))
    eps = jax.random.uniform(jax.random.PRNGKey(seed), (2, 1))
    norms = jnp.abs((eps * real + (1 - eps) * fake).sum(-1))
    assert got == pytest.approx(float(jnp.mean((norms - 1) ** 2)), rel=1e-5)
    assert 0.0 <= got <= 16.0  # norms between 1 and 3 (row 0) or 1 and 5 (row 1)


@pytest.mark.parametrize('shape, kernel, stride, padding', [
    ((2, 28, 28, 1), (4, 4, 1, 8), 2, 1), ((3, 14, 14, 5), (4, 4, 5, 6), 2, 1),
    ((2, 9, 8, 3), (3, 3, 3, 4), 1, 1)])
def test_conv_as_matmul_is_the_convolution_up_to_second_derivatives(shape, kernel, stride, padding):
  """WGAN-GP's critic may run its strided convolutions as patches x matrix (model.d_conv): the
  values, and the gradient-penalty-style second derivative, must be lax.conv's."""
  from jaxgan.architectures.layers import conv_as_matmul
  kx, kw = jax.random.split(jax.random.PRNGKey(0))
  x, w = jax.random.normal(kx, shape), jax.random.normal(kw, kernel)

  def reference(x, w):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), [(padding, padding)] * 2,
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  def matmul(x, w):
    return conv_as_matmul(x, w, stride, padding)

  def penalty_gradient(conv):
    input_gradient = jax.grad(lambda x, w: jnp.sum(jnp.tanh(conv(x, w))))
    return jax.grad(lambda w: jnp.sum(input_gradient(x, w) ** 2))(w)

  np.testing.assert_allclose(matmul(x, w), reference(x, w), rtol=1e-5, atol=1e-5)
  want = penalty_gradient(reference)
  assert float(jnp.abs(want).max()) > 1e-3
  np.testing.assert_allclose(penalty_gradient(matmul), want, rtol=1e-4,
                             atol=1e-4 * float(jnp.abs(want).max()))


def test_d_conv_auto_picks_matmul_only_for_a_double_backward_penalty_on_cpu():
  from jaxgan.trainers.adversarial import _with_conv_choice
  gp = importlib.import_module('configs.wgan_gp').get_config()
  plain = importlib.import_module('configs.dcgan').get_config()
  on_cpu = jax.default_backend() == 'cpu'
  assert _with_conv_choice(gp.model, gp.regularizer.name).d_conv == ('matmul' if on_cpu else 'xla')
  assert _with_conv_choice(plain.model, plain.regularizer.name).d_conv == 'xla'
  gp.model.d_conv = 'xla'   # an explicit choice is kept
  assert _with_conv_choice(gp.model, gp.regularizer.name).d_conv == 'xla'
  assert gp.model.d_conv == 'xla' and plain.model.d_conv == 'auto'   # configs are not changed


# -- weight clipping -------------------------------------------------------------------------

def test_clipping_bounds_every_critic_weight():
  config = shrink(importlib.import_module('configs.wgan').get_config())
  config.model.generator = config.model.discriminator = 'mlp'   # compiles fast; same rule
  config.optim.d_lr = 0.5                      # steps far larger than the clip
  trainer = make_trainer(config, DIGITS)
  batch = batch_for(trainer, config, DIGITS)
  state = trainer.init(jax.random.PRNGKey(0), batch)
  before = max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.d.params))
  assert before > config.regularizer.clip      # PyTorch's init exceeds 0.01: the bound must act
  state, metrics = jax.jit(trainer.make_step())(state, batch, jax.random.PRNGKey(1))
  leaves = jax.tree.leaves(state.d.params)
  assert leaves and all(float(jnp.max(jnp.abs(p))) <= config.regularizer.clip for p in leaves)
  # And the bound is reached: the updates were pushing weights beyond it.
  assert max(float(jnp.max(jnp.abs(p))) for p in leaves) == pytest.approx(config.regularizer.clip)
  assert np.isfinite(float(metrics['d_loss']))


# -- unrolled GAN ----------------------------------------------------------------------------

def _unrolled_case(unroll_steps):
  config = importlib.import_module('configs.mixture_unrolled').get_config()
  config.model.g_hidden = (6,)
  config.model.d_hidden = (5,)
  config.model.g_batch_norm = False
  config.model.maxout_pieces = 2
  config.model.latent_dim = 2
  config.optim.name = 'sgd'        # G: params - lr * grad reveals the gradient; D: plain steps
  config.optim.g_lr = 1.0
  config.optim.d_lr = 2.0
  config.train.batch_size = 6
  config.train.unroll_steps = unroll_steps
  config_lib.validate(config)
  trainer = make_trainer(config, POINTS)
  batch = batch_for(trainer, config, POINTS)
  batch['image'] = batch['image'] * 3.0
  state = trainer.init(jax.random.PRNGKey(3), batch)
  # Larger D weights than N(0, 0.02) so that D's updates move its logits visibly.
  state = state.replace(d=state.d.replace(params=jax.tree.map(lambda p: p * 25.0, state.d.params)))
  return config, trainer, batch, state


def _reference_unrolled_loss(trainer, config, batch, state, key):
  """An independent statement of Metz et al.'s surrogate loss with SGD for D:
  f(theta) = g_loss(D_{phi_k(theta)}(G_theta(z))), phi_{j+1} = phi_j - lr grad d_loss(phi_j),
  phi_0 the discriminator the step starts from. Computes in the dtype of its arguments."""
  from jaxgan import objectives
  objective = objectives.get(config.objective)
  latents = trainer.draw_latents(jax.random.fold_in(key, 0), config.train.batch_size)
  D, G = trainer.discriminator, trainer.generator

  def loss(g_params, d_params=state.d.params, real=batch['image'][0], z=latents.z):
    dtype = jax.tree.leaves(g_params)[0].dtype
    real, z = real.astype(dtype), z.astype(dtype)
    phi = jax.tree.map(lambda p: p.astype(dtype), d_params)
    fake = G.apply({'params': g_params}, z, train=True)
    for _ in range(config.train.unroll_steps):
      grads = jax.grad(lambda p: objective.d_loss(D.apply({'params': p}, real),
                                                  D.apply({'params': p}, fake)))(phi)
      phi = jax.tree.map(lambda p, g: p - config.optim.d_lr * g, phi, grads)
    return objective.g_loss(D.apply({'params': phi}, fake))
  return loss


def test_unrolled_generator_gradient_matches_finite_differences_and_differs_from_k0():
  key = jax.random.PRNGKey(11)
  grads = {}
  for k in (0, 3):
    config, trainer, batch, state = _unrolled_case(k)
    new_state, _ = jax.jit(trainer.make_step())(state, batch, key)
    # SGD with lr 1: the update is minus the gradient.
    grads[k] = jax.tree.map(lambda a, b: a - b, state.g.params, new_state.g.params)
  flat = lambda tree: jnp.concatenate([x.ravel() for x in jax.tree.leaves(tree)])
  g0, g3 = flat(grads[0]), flat(grads[3])
  assert float(jnp.linalg.norm(g3 - g0)) > 0.05 * float(jnp.linalg.norm(g3))

  loss = _reference_unrolled_loss(trainer, config, batch, state, key)
  # Autodiff of the independent statement agrees with the trainer's gradient ...
  reference = flat(jax.grad(loss)(state.g.params))
  np.testing.assert_allclose(np.asarray(g3), np.asarray(reference), rtol=2e-3, atol=2e-5)
  # ... and so do central finite differences along random directions, in float64 with a small
  # step: maxout's kinks make D's unrolled updates, and so f, jump between linear pieces.
  with jax.enable_x64(True):
    params = jax.tree.map(lambda p: p.astype(jnp.float64), state.g.params)
    for seed in range(3):
      direction = jax.tree.map(
          lambda p, s=seed: jax.random.normal(jax.random.PRNGKey(100 + s), p.shape, jnp.float64),
          params)
      h = 1e-6
      plus = loss(jax.tree.map(lambda p, d: p + h * d, params, direction))
      minus = loss(jax.tree.map(lambda p, d: p - h * d, params, direction))
      fd = float(plus - minus) / (2 * h)
      analytic = float(jnp.dot(g3.astype(jnp.float64), flat(direction)))
      assert analytic == pytest.approx(fd, rel=1e-3, abs=1e-3 * float(jnp.linalg.norm(g3))), (
          seed, analytic, fd)


# -- InfoGAN codes ---------------------------------------------------------------------------

def test_infogan_codes_come_from_the_right_distributions():
  config = importlib.import_module('configs.infogan').get_config()
  trainer = make_trainer(config, DIGITS)
  n = 40_000
  latents = jax.jit(trainer.draw_latents, static_argnums=1)(jax.random.PRNGKey(0), n)
  k, c, nz = config.info.categories, config.info.continuous, config.model.latent_dim
  assert latents.z.shape == (n, nz + k + c)
  noise, one_hot, cont = (np.asarray(x) for x in jnp.split(latents.z, [nz, nz + k], axis=1))
  categorical = np.asarray(latents.categorical)
  # Categorical: uniform over k values, and the one-hot block in z is that code.
  counts = np.bincount(categorical, minlength=k)
  assert len(counts) == k and counts.min() > 0
  chi2 = float(((counts - n / k) ** 2 / (n / k)).sum())
  assert chi2 < 30.0                                  # 9 dof: p < 1e-3 above 27.9
  np.testing.assert_array_equal(one_hot, np.eye(k)[categorical])
  # Continuous: uniform on [-1, 1] (not normal): bounded, mean 0, variance 1/3, flat histogram.
  np.testing.assert_array_equal(cont, np.asarray(latents.continuous))
  assert cont.min() >= -1.0 and cont.max() <= 1.0
  assert abs(cont.mean()) < 0.02 and abs(cont.var() - 1 / 3) < 0.01
  histogram = np.histogram(cont[:, 0], bins=10, range=(-1, 1))[0]
  assert histogram.min() > 0.9 * n / 10 and histogram.max() < 1.1 * n / 10
  # Noise: standard normal.
  assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1.0) < 0.02


def test_infogan_q_head_shares_the_discriminator_body_and_trains_the_mi_term():
  config = shrink(importlib.import_module('configs.infogan').get_config())
  config.model.generator = config.model.discriminator = 'mlp'   # compiles fast; same heads
  trainer = make_trainer(config, DIGITS)
  batch = batch_for(trainer, config, DIGITS)
  state = trainer.init(jax.random.PRNGKey(0), batch)
  names = set(state.d.params)
  assert {'q_hidden', 'q_out', 'linear_0', 'out'} <= names   # one body, two heads
  assert state.d.params['q_out']['kernel'].shape[-1] == 10 + 2
  assert 'q_hidden' not in state.g.params
  q_before = state.d.params['q_out']['kernel']
  step = jax.jit(trainer.make_step())
  for i in range(3):
    state, metrics = step(state, batch, jax.random.PRNGKey(i))
  assert np.isfinite(float(metrics['info_loss'])) and float(metrics['info_loss']) > 0
  assert np.isfinite(float(metrics['g_info_loss']))
  assert float(jnp.max(jnp.abs(state.d.params['q_out']['kernel'] - q_before))) > 0


# -- conditional GAN -------------------------------------------------------------------------

def test_cgan_grid_has_one_row_per_class_and_one_noise_per_column():
  config = shrink(importlib.import_module('configs.cgan').get_config())
  config.train.grid_size = 30
  trainer = make_trainer(config, DIGITS)
  assert trainer.grid_columns == 3
  seen = {}
  state = trainer.init(jax.random.PRNGKey(0), batch_for(trainer, config, DIGITS))
  preview = jax.eval_shape(lambda: trainer.previews(state, None, jax.random.PRNGKey(0)))
  assert preview['samples'].shape[:2] == (10, 3)   # the loop's PNG: one row per class

  def fake_generate(state, latents):  # an "image" that shows its label and its noise
    seen['latents'] = latents
    image = latents.labels[:, None, None, None] + 0 * latents.z[:, :1, None, None]
    return jnp.broadcast_to(image, (latents.z.shape[0], 2, 2, 1)).astype(jnp.float32)

  trainer.generate = fake_generate
  grid = np.asarray(trainer.grid(None, jax.random.PRNGKey(0)))
  latents = seen['latents']
  assert grid.shape[0] == 30
  rows = np.asarray(latents.labels).reshape(10, 3)
  np.testing.assert_array_equal(rows, np.repeat(np.arange(10)[:, None], 3, axis=1))
  z = np.asarray(latents.z).reshape(10, 3, -1)
  np.testing.assert_array_equal(z, np.broadcast_to(z[:1], z.shape))   # same noise per column
  assert len({tuple(z[0, c]) for c in range(3)}) == 3                   # different across columns
  # The PNG the loop writes: class r fills row r.
  picture = reporting.image_grid(grid / 10.0, trainer.grid_columns, padding=0)
  assert picture.shape[:2] == (20, 6)
  row_values = picture[::2, 0, 0]
  assert list(np.argsort(row_values)) == list(range(10))


@pytest.mark.parametrize('nets', ['mlp', 'dcgan'])
def test_conditional_nets_use_the_labels(nets):
  for name in ('cgan', 'cgan_projection'):
    config = shrink(importlib.import_module(f'configs.{name}').get_config())
    config.model.generator = config.model.discriminator = nets
    trainer = make_trainer(config, DIGITS)
    batch = batch_for(trainer, config, DIGITS)
    state = trainer.init(jax.random.PRNGKey(0), batch)
    assert 'label_embed' in state.g.params
    assert ('projection' if name == 'cgan_projection' else 'label_embed') in state.d.params
    z = trainer.draw_latents(jax.random.PRNGKey(1), 4).z

    @jax.jit
    def both_ways(state, image):
      generated = [trainer.generate(state, Latents(z, labels))
                   for labels in (jnp.arange(4), jnp.arange(4) + 4)]
      judged = [trainer.discriminate(state.d.params, state.d.batch_stats, image, labels,
                                     train=False)[0]
                for labels in (jnp.zeros(4, jnp.int32), jnp.full(4, 9))]
      return generated, judged
    (a, b), (la, lb) = both_ways(state, batch['image'][0])
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4
    assert float(jnp.max(jnp.abs(la - lb))) > 1e-6


# -- minibatch features and packing ----------------------------------------------------------

def test_minibatch_features_see_a_collapsed_batch():
  from jaxgan.architectures.heads import MinibatchDiscrimination, MinibatchStddev
  layer = MinibatchDiscrimination(kernels=4, kernel_dim=3)
  same = jnp.ones((6, 5))
  params = layer.init(jax.random.PRNGKey(0), same)
  # Identical samples: every other sample is at L1 distance 0, so each feature is N - 1.
  np.testing.assert_allclose(layer.apply(params, same), 5.0, rtol=1e-6)
  varied = jax.random.normal(jax.random.PRNGKey(1), (6, 5)) * 10
  assert float(layer.apply(params, varied).max()) < 4.0
  stddev = MinibatchStddev(group=3)
  assert float(jnp.abs(stddev.apply({}, same)).max()) < 1e-3
  assert float(stddev.apply({}, varied).min()) > 1.0


def test_pack_concatenates_consecutive_samples():
  x = jnp.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  images = jnp.arange(4 * 2 * 2 * 1.0).reshape(4, 2, 2, 1)
  packed = pack(images, 2)
  assert packed.shape == (2, 2, 2, 2)
  np.testing.assert_array_equal(packed[1, ..., 1], images[3, ..., 0])


# -- every new config trains -----------------------------------------------------------------

# infogan, wgan, mixture_unrolled and mixture_gan train in the tests above (Q head, clipping,
# unrolled gradient, the loop); the rest here.
CONFIGS = ['cgan', 'cgan_projection', 'wgan_gp', 'minibatch_gan', 'unrolled_gan',
           'mixture_wgan_gp', 'mixture_minibatch', 'mixture_pacgan']


@pytest.mark.parametrize('name', CONFIGS)
def test_each_new_config_trains_a_couple_of_steps(name):
  config = shrink(importlib.import_module(f'configs.{name}').get_config())
  config_lib.validate(config)
  info = POINTS if name.startswith('mixture') else DIGITS
  trainer = make_trainer(config, info)
  batch = batch_for(trainer, config, info)
  state = trainer.init(jax.random.PRNGKey(0), batch)
  step = jax.jit(trainer.make_step())
  before, initial_state = state.g.params, state
  for i in range(2):
    state, metrics = step(state, batch, jax.random.PRNGKey(i))
  assert int(state.step) == 2
  for value in metrics.values():
    assert np.isfinite(float(value)), (name, metrics)
  for leaf in jax.tree.leaves(state):
    assert np.all(np.isfinite(np.asarray(leaf))), name
  moved = [float(jnp.max(jnp.abs(a - b))) for a, b in
           zip(jax.tree.leaves(before), jax.tree.leaves(state.g.params))]
  assert max(moved) > 0, name
  if config.regularizer.name != 'none':
    assert 'penalty' in metrics and float(metrics['penalty']) > 0
  # The preview the loop writes: its layout, and something drawn.
  preview = jax.jit(lambda s: trainer.previews(s, None, jax.random.PRNGKey(0))['samples'])
  grid = np.asarray(preview(state))
  images = grid.reshape((-1,) + grid.shape[-3:])
  if name.startswith('mixture'):
    assert images.shape == (1, 160, 160, 1) and np.min(images) < 0 and np.max(images) == 1  # dots on white
  else:
    assert images.shape[0] >= config.train.grid_size and np.std(images) > 1e-3, images.shape
  # Training moved what the generator draws (the scatter image of the tiny mixture nets is
  # too coarse to show two steps, so compare the samples themselves).
  sample = jax.jit(lambda s: trainer.functions()['sample'](s, jax.random.PRNGKey(3), 16))
  assert np.max(np.abs(np.asarray(sample(state)) - np.asarray(sample(initial_state)))) > 0, name
  reporting.image_grid(images, grid.shape[1] if grid.ndim == 5 else None)


# -- the mixture source in the loop, and its metrics -----------------------------------------

def test_mixture_metrics_on_true_and_collapsed_samples():
  means, std, _ = mixtures.MIXTURES['grid25']
  points, _ = mixtures.sample(jax.random.PRNGKey(0), jnp.asarray(means, jnp.float32), std, 50_000)
  result = mixtures.evaluate(np.asarray(points), 'grid25')
  assert result['modes'] == 25
  # Within 3 std in 2-D: P(chi2_2 < 9) = 1 - exp(-4.5).
  assert result['high_quality'] == pytest.approx(1 - np.exp(-4.5), abs=0.003)
  assert result['reverse_kl'] < 0.01
  collapsed = np.repeat(means[:1], 100, axis=0)
  result = mixtures.evaluate(collapsed, 'grid25')
  assert result['modes'] == 1 and result['high_quality'] == 1.0
  assert result['reverse_kl'] == pytest.approx(np.log(25))
  far = mixtures.evaluate(np.full((10, 2), 1.0), 'grid25')
  assert far['modes'] == 0 and far['high_quality'] == 0.0
  assert far['reverse_kl'] == pytest.approx(np.log(25))


def test_mixture_source_plugs_into_the_training_loop(tmp_path):
  from jaxgan import train
  config = shrink(importlib.import_module('configs.mixture_gan').get_config())
  config.data.name = 'ring8'
  config.train.num_steps = 4
  config.train.log_every_steps = 2
  config.train.sample_every_steps = 4
  config.train.checkpoint_every_steps = 4
  config.train.progress_bar = 'no'
  workdir = str(tmp_path / 'ring')
  final = train.run(config, workdir)
  assert np.isfinite(final['d_loss'])
  assert os.path.exists(os.path.join(workdir, 'samples', 'step_4.png'))
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    steps = [json.loads(line)['step'] for line in f]
  assert steps == [2, 4]
  # The batches are the mixture's points, drawn per step.
  from jaxgan import parallel
  batches = mixtures.MixtureSource(config).make_batches(parallel.make_mesh())
  a = batches.batch_at(batches.device_data, 0, 0, 1)
  b = batches.batch_at(batches.device_data, 1, 1, 1)
  radius = np.linalg.norm(np.asarray(a['image'][0]), axis=-1)
  assert np.all(np.abs(radius - 1.0) < 0.06)
  assert not np.array_equal(np.asarray(a['image']), np.asarray(b['image']))


def test_mixture_benchmark_rows_from_concurrent_writers_all_land(tmp_path):
  # benchmarks/mixtures.py may run as one process per mixture into one results folder; each
  # row is a read-modify-write of mixtures.json, so without the lock rows would be lost.
  from concurrent.futures import ThreadPoolExecutor
  from benchmarks import mixtures as bench
  json_path = str(tmp_path / 'mixtures.json')
  protocol = {'steps': 10, 'overrides': [], 'command': 'test', 'seeds': [0]}
  jobs = [(variant, mixture) for variant in ('gan', 'unrolled', 'wgan_gp', 'minibatch')
          for mixture in ('grid25', 'ring8')] * 3
  def record(job):
    variant, mixture = job
    entry = {'per_seed': [{'modes': 1, 'high_quality': 0.5, 'reverse_kl': 0.1}], 'steps': 10}
    bench._record_row(json_path, protocol, variant, mixture, entry)
  with ThreadPoolExecutor(8) as pool:
    list(pool.map(record, jobs))
  with open(json_path) as f:
    report = json.load(f)
  assert sorted(report['variants']) == ['gan', 'minibatch', 'unrolled', 'wgan_gp']
  assert {(v, m) for v, rows in report['results'].items() for m in rows} == set(jobs)
