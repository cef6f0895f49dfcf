"""Numerical parity of jaxgan's VAE (configs/vae.py) with the PyTorch tutorial's
(pytorch/examples vae/main.py, benchmarks/torch_originals/vae.py).

Tolerances follow tests/test_parity.py: float64 to 1e-9 relative (the same function), float32
forward values and losses to 1e-5 relative, parameters after an Adam step to 1e-4 relative
per layer. The original sums the loss over the batch and jaxgan averages, so per-example
values are compared, and the PyTorch step divides by the batch size (see the module doc of
benchmarks/torch_originals/vae.py).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import MODELS, bridge, image_shape_of  # noqa: E402
from benchmarks.torch_originals.vae import (TorchVAETrainer, loss_function,  # noqa: E402
                                            original_loss_function, per_example_loss,
                                            state_from_torch)
from jaxgan import porting  # noqa: E402
from jaxgan.data import DatasetInfo  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402

torch.set_num_threads(1)  # small tensors; keeps the 2-core CI machine free for xdist workers

BATCH = 8
LAYERS = {'fc1': ('encoder', 'hidden_0'), 'fc21': ('encoder', 'mean'),
          'fc22': ('encoder', 'log_var'), 'fc3': ('decoder', 'hidden_0'),
          'fc4': ('decoder', 'logits')}


def max_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def l2_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def setup(dtype=torch.float32, seed=0):
  """(config, image shape, jaxgan VAETrainer, TorchVAETrainer with jaxgan's semantics)."""
  config = MODELS['vae'].config()
  shape = image_shape_of(config)
  trainer = make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
  torch.manual_seed(seed)
  tvae = TorchVAETrainer(config, shape, original=False)
  tvae.net.to(dtype)   # in place: the optimizer (state still empty) keeps the parameters
  return config, shape, trainer, tvae


def examples(trainer, dtype=jnp.float32):
  return (jnp.zeros((1,) + trainer.module.image_shape, dtype),
          jnp.zeros((1, trainer.latent_dim), dtype))


def port(trainer, net, dtype=None):
  return porting.torch_to_flax(trainer.module, bridge.numpy_state_dict(net), *examples(trainer),
                               dtype=dtype, train=False)


def digits(rs, n, shape):
  """Digit-like images in [0, 1]: mostly 0, some strokes near 1, some grey."""
  x = rs.uniform(0, 1, (n,) + shape)
  return np.where(x < 0.6, 0.0, np.where(x < 0.85, x, 1.0))


# ---------------------------------------------------------------------------------------------

def test_porting_round_trip_is_exact():
  config, shape, trainer, tvae = setup()
  sd = bridge.numpy_state_dict(tvae.net)
  assert list(sd) == [f'{n}.{p}' for n in LAYERS for p in ('weight', 'bias')]
  variables = port(trainer, tvae.net)
  shapes = jax.eval_shape(lambda: trainer.module.init(jax.random.PRNGKey(0), *examples(trainer),
                                                      train=False))
  assert jax.tree.structure(variables) == jax.tree.structure(shapes)
  for name, path in LAYERS.items():   # the original's layer -> jaxgan's, by forward order
    node = variables['params'][path[0]][path[1]]
    np.testing.assert_array_equal(node['kernel'], sd[f'{name}.weight'].T, err_msg=name)
    np.testing.assert_array_equal(node['bias'], sd[f'{name}.bias'], err_msg=name)
  back = porting.flax_to_torch(trainer.module, variables, sd, *examples(trainer), train=False)
  assert back.keys() == sd.keys()
  for key in sd:
    np.testing.assert_array_equal(back[key], sd[key], err_msg=key)


def _forward_both(dtype, tdtype):
  config, shape, trainer, tvae = setup(tdtype)
  rs = np.random.RandomState(1)
  x = digits(rs, BATCH, shape).astype(dtype)                       # [B, H, W, C] in [0, 1]
  eps = rs.randn(BATCH, trainer.latent_dim).astype(dtype)
  params = jax.tree.map(jnp.asarray, port(trainer, tvae.net, dtype)['params'])
  logits, mean, log_var = trainer.module.apply({'params': params}, x, eps, train=False)
  log_px, kl = trainer.per_example_terms(params, x, eps)
  j_loss = -(log_px - kl)
  tx, teps = bridge.torch_images(x, dtype), torch.from_numpy(eps)
  with torch.no_grad():
    t_logits, t_mean, t_log_var = tvae.net.forward_logits(tx, teps)
    t_loss = per_example_loss(t_logits, tx, t_mean, t_log_var)
  t_logits = t_logits.numpy().reshape((BATCH,) + (shape[2], shape[0], shape[1])).transpose(0, 2, 3, 1)
  assert logits.dtype == dtype and t_loss.dtype == tdtype
  return {'logits': (logits, t_logits), 'mean': (mean, t_mean.numpy()),
          'log_var': (log_var, t_log_var.numpy()), 'loss': (j_loss, t_loss.numpy())}


def test_forward_parity_float32():
  pairs = _forward_both(np.float32, torch.float32)
  errors = {k: max_rel(*v) for k, v in pairs.items()}
  assert max(errors.values()) < 1e-5, errors


def test_forward_parity_float64():
  with jax.enable_x64(True):
    pairs = _forward_both(np.float64, torch.float64)
  errors = {k: max_rel(*v) for k, v in pairs.items()}
  assert max(errors.values()) < 1e-9, errors


# ---------------------------------------------------------------------------------------------

def _steps_both(dtype, tdtype, num_steps=2):
  """Before each of `num_steps` PyTorch steps, ports PyTorch's whole state (net and Adam moments)
  to jaxgan and runs jaxgan's step from it on the same batch, x and eps. Yields per step
  (jaxgan state before, after, PyTorch state after, jaxgan metrics, PyTorch loss).
  Step 0 starts from a fresh Adam state; step 1 carries PyTorch's moments over."""
  config, shape, trainer, tvae = setup(tdtype)
  step = jax.jit(trainer.make_step())
  rs = np.random.RandomState(2)
  for i in range(num_steps):
    before = state_from_torch(trainer, tvae, i)
    images = jnp.asarray(2.0 * digits(rs, BATCH, shape).astype(dtype) - 1.0)   # [-1, 1]
    key = jax.random.PRNGKey(7 + i)
    after_j, metrics = step(before, {'image': images[None]}, key)
    # What the step draws (jaxgan/trainers/vae.py): x from data_key, eps from noise_key.
    data_key, noise_key = jax.random.split(key)
    x = trainer.targets(images, data_key)
    eps = jax.random.normal(noise_key, (BATCH, trainer.latent_dim), jnp.float32)
    loss = tvae.step(bridge.torch_images(x, dtype), torch.from_numpy(np.array(eps, dtype)))
    yield before, after_j, state_from_torch(trainer, tvae, i + 1), metrics, float(loss)


def _layer_errors(after_j, after_t):
  out = {}
  for path, j in jax.tree_util.tree_leaves_with_path(after_j.vae.params):
    t = after_t.vae.params
    for p in path:
      t = t[p.key]
    out[jax.tree_util.keystr(path)] = l2_rel(j, t)
  return out


def test_training_step_parity_float32():
  for i, (before, after_j, after_t, metrics, loss) in enumerate(_steps_both(np.float32, torch.float32)):
    assert abs(float(metrics['loss']) - loss) <= 1e-5 * abs(loss), (i, float(metrics['loss']), loss)
    errors = _layer_errors(after_j, after_t)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-4, (i, worst, errors[worst])
    # The Adam moments after the step, too (the second moment's scale is tiny: relative).
    moments_j = jax.tree.leaves(after_j.vae.opt_state)
    moments_t = jax.tree.leaves(after_t.vae.opt_state)
    for a, b in zip(moments_j, moments_t):
      if np.ndim(a):
        assert l2_rel(a, b) < 1e-4, i


def test_training_step_parity_float64():
  with jax.enable_x64(True):
    for i, (before, after_j, after_t, metrics, loss) in enumerate(
        _steps_both(np.float64, torch.float64)):
      assert jax.tree.leaves(after_j.vae.params)[0].dtype == jnp.float64
      assert abs(float(metrics['loss']) - loss) <= 1e-9 * abs(loss), (i, float(metrics['loss']), loss)
      leaves_j = jax.tree_util.tree_leaves_with_path(after_j.vae)
      leaves_t = jax.tree.leaves(after_t.vae)
      assert len(leaves_j) == len(leaves_t)
      for (path, a), b in zip(leaves_j, leaves_t):
        if np.ndim(a):
          assert max_rel(a, b) < 1e-9, (i, jax.tree_util.keystr(path), max_rel(a, b))
        else:
          assert int(a) == int(b), (i, jax.tree_util.keystr(path))


def test_the_vae_pair_builds_from_its_config():
  """The pair's registry entry stays in step with configs/vae.py (the original's loss included;
  tests/test_parity.py builds the GAN pairs)."""
  pair = MODELS['vae']
  assert pair.family == 'vae'
  config = pair.config()
  shape = image_shape_of(config)
  make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
  torch.manual_seed(0)
  for original in (False, True):
    tvae = TorchVAETrainer(config, shape, original=original)
    assert [tuple(p.shape) for p in tvae.net.parameters()] == [
        (400, 784), (400,), (20, 400), (20,), (20, 400), (20,), (400, 20), (400,), (784, 400), (784,)]
    x = torch.rand(4, 1, 28, 28)
    loss = tvae.step(x, torch.zeros(4, 20))
    assert torch.isfinite(loss) and loss > 0
  # The original's loss (sigmoid, BCE on probabilities) is the same function as the one on
  # logits, and sums what per_example_loss gives per example.
  net = tvae.net.double()
  x, eps = torch.rand(4, 1, 28, 28, dtype=torch.float64), torch.randn(4, 20, dtype=torch.float64)
  with torch.no_grad():
    logits, mu, logvar = net.forward_logits(x, eps)
    recon, _, _ = net(x, eps)
    ours, theirs = loss_function(logits, x, mu, logvar), original_loss_function(recon, x, mu, logvar)
    summed = per_example_loss(logits, x, mu, logvar).sum()
  assert abs(float(ours - theirs)) <= 1e-9 * float(theirs) and abs(float(summed - ours)) <= 1e-9 * float(ours)
  with pytest.raises(NotImplementedError, match='model.vae'):
    TorchVAETrainer(pair.config('model.vae=conv'), shape)
