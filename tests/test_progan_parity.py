"""Numerical parity of jaxgan's ProGAN (jaxgan/architectures/progan.py, jaxgan/trainers/progan.py)
with a PyTorch ProGAN written from the official TensorFlow code
(benchmarks/torch_originals/progan.py), jaxgan's parameters ported into it.

Tolerances, relative (max |difference| / max |reference|): forward outputs 2e-5 in float32 and
1e-10 in float64 (float64 sees an epsilon moved, e.g. pixel norm's 1e-8 outside the root,
which float32 rounding hides); one training step (losses, parameters, EMA, Adam's second
moments) 1e-9 in float64. Every parameter is drawn at random, biases included, and each level
has its own width, so a layer ported to the wrong place or with the wrong layout fails.

"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import MODELS, image_shape_of  # noqa: E402
from benchmarks.torch_originals import progan as tprogan  # noqa: E402
from configs import progan as progan_config  # noqa: E402
from jaxgan.architectures import progan as nets  # noqa: E402
from jaxgan.data import DatasetInfo  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402
from jaxgan.trainers.players import Player  # noqa: E402
from jaxgan.trainers.progan import ProGANState  # noqa: E402

torch.set_num_threads(1)  # small tensors; keeps the 2-core CI machine free for xdist workers

WIDTHS = (12, 10, 8, 6)   # 4x4 .. 32x32, one width per level
LATENT = 16
BATCH = 8                 # two minibatch-stddev groups of 4
SIZE = 32
LEVEL = 3                 # 32x32
FORWARD_CASES = {True: (0.0, 0.5, 1.0), False: (1.0,)}   # fade: alphas
# float32: measured up to 6e-6 (G: five levels of convs, each pixel-normed); float64 ~1e-14.
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def max_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def randomized(params, seed, dtype):
  """A tree shaped like `params` (arrays or shapes) with every leaf drawn N(0, 1) (biases
  0.3 N(0, 1))."""
  rs = np.random.RandomState(seed)

  def draw(path, leaf):
    names = [p.key for p in path]
    scale = 0.3 if names[-1].endswith('bias') else 1.0
    return jnp.asarray((scale * rs.randn(*leaf.shape)).astype(dtype))
  return jax.tree_util.tree_map_with_path(draw, params)


# Shapes only (jax.eval_shape): initialising op by op would compile every op apart.
def generator_shapes(module):
  return jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((2, LATENT)), 1.0)['params']


def discriminator_shapes(module):
  return jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros((4, SIZE, SIZE, 1)),
                        1.0)['params']


def generator_pair(fade, dtype, seed=0):
  module = nets.ProGenerator(level=LEVEL, fade=fade, widths=WIDTHS, channels=1)
  params = randomized(generator_shapes(module), seed, dtype)
  net = tprogan.TorchProGenerator(LEVEL, fade, WIDTHS, 1, LATENT).to(TORCH_DTYPE[dtype])
  tprogan.load_flax_params(net, params)
  return module, params, net


def discriminator_pair(fade, dtype, seed=1):
  module = nets.ProDiscriminator(level=LEVEL, fade=fade, widths=WIDTHS, group_size=4)
  params = randomized(discriminator_shapes(module), seed, dtype)
  net = tprogan.TorchProDiscriminator(LEVEL, fade, WIDTHS, 1, 4).to(TORCH_DTYPE[dtype])
  tprogan.load_flax_params(net, params)
  return module, params, net


def nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [np.float32, np.float64], ids=['float32', 'float64'])
def test_generator_forward_parity(dtype):
  with jax.enable_x64(dtype == np.float64):
    z = np.random.RandomState(2).randn(BATCH, LATENT).astype(dtype)
    errors, outputs = {}, {}
    for fade, alphas in FORWARD_CASES.items():
      module, params, net = generator_pair(fade, dtype)
      apply = jax.jit(module.apply)      # alpha traced: one compilation for the three
      for alpha in alphas:
        ours = np.asarray(apply({'params': params}, z, alpha))
        with torch.no_grad():
          theirs = net(torch.from_numpy(z), alpha).numpy().transpose(0, 2, 3, 1)
        assert ours.shape == theirs.shape == (BATCH, SIZE, SIZE, 1) and ours.dtype == dtype
        errors[(fade, alpha)] = max_rel(ours, theirs)
        outputs[(fade, alpha)] = ours
  assert max(errors.values()) < TOLERANCE[dtype], errors
  # The fade is seen: the three alphas give three different images.
  assert max_rel(outputs[(True, 0.0)], outputs[(True, 1.0)]) > 1e-2
  assert max_rel(outputs[(True, 0.5)], outputs[(True, 1.0)]) > 1e-2


@pytest.mark.parametrize('dtype', [np.float32, np.float64], ids=['float32', 'float64'])
def test_discriminator_forward_parity(dtype):
  with jax.enable_x64(dtype == np.float64):
    # Per-sample offsets make the minibatch-stddev groups (i, i + 2, i + 4, i + 6) differ.
    rs = np.random.RandomState(3)
    images = (rs.randn(BATCH, SIZE, SIZE, 1) * rs.uniform(0.2, 2.0, (BATCH, 1, 1, 1))).astype(dtype)
    errors, outputs = {}, {}
    for fade, alphas in FORWARD_CASES.items():
      module, params, net = discriminator_pair(fade, dtype)
      apply = jax.jit(module.apply)
      for alpha in alphas:
        ours = np.asarray(apply({'params': params}, images, alpha))
        with torch.no_grad():
          theirs = net(nchw(images), alpha).numpy()
        assert ours.shape == theirs.shape == (BATCH,) and ours.dtype == dtype
        errors[(fade, alpha)] = max_rel(ours, theirs)
        outputs[(fade, alpha)] = ours
  assert max(errors.values()) < TOLERANCE[dtype], errors
  assert max_rel(outputs[(True, 0.0)], outputs[(True, 1.0)]) > 1e-2
  assert max_rel(outputs[(True, 0.5)], outputs[(True, 1.0)]) > 1e-2


def test_minibatch_stddev_groups_as_the_official_code():
  """Sample i joins group i % (N / 4) in both (a grouping by consecutive samples would differ)."""
  rs = np.random.RandomState(4)
  x = (rs.randn(BATCH, 4, 4, 3) * np.arange(1, BATCH + 1)[:, None, None, None]).astype(np.float32)
  ours = np.asarray(nets.minibatch_stddev(jnp.asarray(x), 4))
  theirs = tprogan.minibatch_stddev(nchw(x), 4).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)
  by_hand = x[[0, 2, 4, 6]].std(axis=0).mean()      # group 0: samples 0, 2, 4, 6
  np.testing.assert_allclose(theirs[0, 0, 0, -1], by_hand, rtol=1e-4)
  np.testing.assert_allclose(theirs[6, 0, 0, -1], by_hand, rtol=1e-4)


def test_port_refuses_what_it_cannot_hold():
  _, stable_params, _ = generator_pair(False, np.float32)
  fading_net = tprogan.TorchProGenerator(LEVEL, True, WIDTHS, 1, LATENT)
  with pytest.raises(ValueError, match='only torch'):          # no lower to-RGB in a stable tree
    tprogan.load_flax_params(fading_net, stable_params)


# ---------------------------------------------------------------------------------------------
# One training step of the fade-in to 32x32 at alpha 0.5, float64.

def tiny_config():
  config = progan_config.get_config()
  config.data.image_size = SIZE
  config.model.latent_dim = LATENT
  config.model.widths = WIDTHS
  config.model.mbstd_group = 4
  config.train.batch_size = BATCH
  config.progan.batch_sizes = ()            # train.batch_size at every resolution
  config.progan.images_per_phase = 4 * BATCH   # 4 steps a phase: alpha 0.5 after two
  return config


def _adam_nu(opt_state):
  is_adam = lambda s: isinstance(s, optax.ScaleByAdamState)
  states = [s for s in jax.tree.leaves(opt_state, is_leaf=is_adam) if is_adam(s)]
  assert len(states) == 1
  return states[0].nu


@pytest.fixture(scope='module')
def one_step():
  """jaxgan's jitted step and the PyTorch step from the same (ported) state on the same batch,
  latents and interpolation weights; returns what both ended with."""
  config = tiny_config()
  with jax.enable_x64(True):
    trainer = make_trainer(config, DatasetInfo('offline_mnist', (SIZE, SIZE, 1), 10, 4500))
    index = trainer.layout.index((LEVEL, True))
    start, end = trainer.starts[index], trainer.starts[index + 1]
    step_number = start + (end - start) // 2
    alpha = float(trainer.alpha(jnp.asarray(step_number), index))
    assert alpha == 0.5
    g = randomized(generator_shapes(trainer.generator(LEVEL, True)), 10, np.float64)
    g_ema = randomized(g, 11, np.float64)
    d = randomized(discriminator_shapes(trainer.discriminator(LEVEL, True)), 12, np.float64)
    state = ProGANState(step=jnp.asarray(step_number, jnp.int32),
                        g=Player(g, {}, trainer.tx.init(g)), d=Player(d, {}, trainer.tx.init(d)),
                        g_ema=g_ema)
    rs = np.random.RandomState(5)
    images = np.tanh(rs.randn(BATCH, SIZE, SIZE, 1) * 2.0)          # in (-1, 1)
    key = jax.random.PRNGKey(7)
    batch = {'image': jnp.asarray(images)[None]}
    after, metrics = jax.jit(trainer.make_step(index))(state, batch, key)
    # What the step draws (jaxgan/trainers/progan.py): D's latents, G's, the penalty's weights.
    d_key, g_key, gp_key = jax.random.split(key, 3)
    latents_d = np.asarray(jax.random.normal(d_key, (BATCH, LATENT)))
    latents_g = np.asarray(jax.random.normal(g_key, (BATCH, LATENT)))
    # jaxgan's eps weighs the real image (eps real + (1 - eps) fake).
    eps = np.asarray(jax.random.uniform(gp_key, (BATCH, 1, 1, 1), jnp.float64))
    assert latents_d.dtype == np.float64
    after = jax.tree.map(np.asarray, after)
    metrics = {k: float(v) for k, v in metrics.items()}

  tgan = tprogan.TorchProGAN(config, (SIZE, SIZE, 1), LEVEL, True, original=False)
  tgan.to(dtype=torch.float64).load_flax(g, d, g_ema)
  terms = tgan.step(nchw(images), alpha, torch.from_numpy(latents_d), torch.from_numpy(latents_g),
                    mixing=torch.from_numpy(1.0 - eps))      # the official t weighs the fake
  return {'before_d': jax.tree.map(np.asarray, d), 'after': after, 'metrics': metrics, 'tgan': tgan,
          'terms': {k: float(v) for k, v in terms.items()}}


def test_one_step_losses_match(one_step):
  """The D loss's terms (Wasserstein estimate, gradient penalty, drift) and G's loss."""
  metrics, terms = one_step['metrics'], one_step['terms']
  for name in ('d_loss', 'penalty', 'drift', 'd_real', 'd_fake', 'g_loss'):
    assert abs(metrics[name] - terms[name]) <= 1e-9 * abs(terms[name]), (
        name, metrics[name], terms[name])
  assert terms['penalty'] > 1e-3 and terms['drift'] > 1e-3    # both terms are in play


def _compare(ported, torch_tensors, skip=()):
  errors = {}
  for name, want in torch_tensors.items():
    if name not in skip:
      errors[name] = max_rel(ported[name], want.detach().numpy())
  assert errors and set(errors) | set(skip) == set(ported)
  return errors


def test_one_step_parameters_match(one_step):
  """D, G and the EMA generator after the step, and both nets' Adam second moments."""
  after, tgan = one_step['after'], one_step['tgan']
  errors = _compare(tprogan.discriminator_state_dict(after.d.params), tgan.netD.state_dict())
  errors.update({'G ' + k: v for k, v in _compare(
      tprogan.generator_state_dict(after.g.params), tgan.netG.state_dict()).items()})
  errors.update({'EMA ' + k: v for k, v in _compare(
      tprogan.generator_state_dict(after.g_ema), tgan.netG_ema.state_dict()).items()})
  worst = max(errors, key=errors.get)
  assert errors[worst] < 1e-9, (worst, errors[worst])
  # Adam's v after one step is (1 - b2) g^2: b2 and the gradients, per parameter.
  for net, optimizer, nu, port, skip in [
      (tgan.netD, tgan.optimizerD, _adam_nu(after.d.opt_state),
       tprogan.discriminator_state_dict, ()),
      (tgan.netG, tgan.optimizerG, _adam_nu(after.g.opt_state),
       tprogan.generator_state_dict, ())]:
    moments = {name: optimizer.state[p]['exp_avg_sq'] for name, p in net.named_parameters()}
    errors = _compare(port(nu), moments, skip)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-9, (worst, errors[worst])
  # The step moved the parameters (two steps that changed nothing would match too): by about
  # the learning rate, Adam's first step.
  moved = np.abs(after.d.params['block_32']['conv0']['kernel']
                 - one_step['before_d']['block_32']['conv0']['kernel']).max()
  assert 5e-4 < moved < 2e-3, moved


def test_real_images_are_pooled_and_faded_alike():
  """32x32 data for the fade-in to 16x16: box-filtered to 16x16, blended with the 8x8 version
  by alpha (jaxgan's real_images, the official process_reals)."""
  config = tiny_config()
  trainer = make_trainer(config, DatasetInfo('offline_mnist', (SIZE, SIZE, 1), 10, 4500))
  tgan = tprogan.TorchProGAN(config, (SIZE, SIZE, 1), 2, True)
  images = np.random.RandomState(6).uniform(-1, 1, (2, SIZE, SIZE, 1)).astype(np.float32)
  for alpha in (0.0, 0.3, 1.0):
    ours = np.asarray(trainer.real_images(jnp.asarray(images), 2, True, alpha))
    theirs = tgan.real_images(nchw(images), alpha).numpy().transpose(0, 2, 3, 1)
    assert ours.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_the_progan_pairs_build_from_their_config():
  """The speed rows' pairs (family 'progan') stay in step with configs/progan.py: both sides
  build at the pair's phase and the PyTorch step runs."""
  pairs = [pair for pair in MODELS.values() if pair.family == 'progan']
  assert pairs
  for pair in pairs:
    config = pair.config()
    shape = image_shape_of(config)
    trainer = make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
    level, fade = tprogan.level_of_phase(pair.phase)
    assert (level, fade) in trainer.layout
    assert tprogan.phase_batch_size(config, level) == trainer.batch_sizes[level]
    for original in (False, True):
      torch.manual_seed(0)
      tgan = tprogan.TorchProGAN(config, shape, level, fade, original=original)
      terms = tgan.step(torch.rand(4, shape[2], shape[0], shape[1]) * 2 - 1)
      assert all(np.isfinite(v.item()) for v in terms.values())
