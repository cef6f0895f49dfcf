"""Numerical parity with the PyTorch originals (benchmarks/torch_originals), and the layers that
make it possible (PyTorch-faithful BatchNorm, the phase-decomposed transposed convolution).

What is claimed and how it is tested:
  - Porting: a PyTorch state dict converts to the Flax variables of the matching jaxgan module
    and back, bit for bit (`jaxgan.porting`).
  - Forward: same weights, same inputs -> G and D outputs, and the BatchNorm running statistics
    a training-mode pass leaves, agree to 1e-5 relative in float32, in training and in
    evaluation mode.
  - One full training step (every critic update, then the generator update; the same real
    batches, latents and penalty draws) from the same state, with a fresh optimizer state and
    with one carried over from PyTorch (Adam/RMSprop moments) agrees
      * in float64 to 1e-9 relative on every leaf of the state: the two implementations
        compute the same function;
      * in float32 to 1e-4 relative (per player, over all parameters; each BatchNorm running
        statistic; the losses to 1e-5). Per element float32 can differ more, and that is
        not an implementation difference: a LeakyReLU/ReLU input within rounding (~1e-7) of
        its kink takes the other slope in one framework, and Adam's first step turns
        gradients near zero into +-lr steps whose sign is rounding noise.
    Biases of Linear layers followed by BatchNorm have an exactly zero gradient in exact
    arithmetic (BatchNorm removes any constant), so Adam moves them by amplified rounding
    noise in either framework; they change nothing downstream and are checked to move by at
    most the learning rate per step.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import MODELS, bridge, image_shape_of, nets  # noqa: E402
from benchmarks.torch_originals.steps import TorchGAN  # noqa: E402
from jaxgan import porting  # noqa: E402
from jaxgan.architectures import layers  # noqa: E402
from jaxgan.data import DatasetInfo  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402

torch.set_num_threads(1)  # small tensors; keeps the 2-core CI machine free for xdist workers

# Tests run the real configs, narrowed (parity does not depend on the width, only the time
# does); layer structure, depth, image size, objective and optimizer are the configs' own.
# WGAN's 5 critic updates are 2 here: the loop over critic updates is what is tested.
_NARROW = ('model.g_features=8', 'model.d_features=8', 'train.batch_size=16')
SHRINK = {
    'gan': ('model.g_hidden=(64, 128, 256)', 'model.d_hidden=(128, 64)', 'train.batch_size=32'),
    'bn_gan': ('model.g_hidden=(64, 128, 256)', 'model.d_features=8', 'train.batch_size=32'),
    'dcgan28': _NARROW,
    'dcgan64': _NARROW,
    'wgan': _NARROW + ('train.d_steps=2',),
    'wgan_gp': _NARROW + ('train.d_steps=2',),
}
PAIRS = [name for name in MODELS if name in SHRINK]


def max_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) if b.size else 0.0


def l2_rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def tree_l2_rel(a, b):
  la = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(a)])
  lb = np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(b)])
  return l2_rel(la, lb)


def setup(name, dtype=torch.float32, seed=0):
  """(config, image shape, jaxgan trainer, TorchGAN with jaxgan's semantics) for a model pair."""
  config = MODELS[name].config(*SHRINK[name])
  shape = image_shape_of(config)
  trainer = make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
  torch.manual_seed(seed)
  tgan = TorchGAN(config, shape, original=False).train()
  tgan.netG.to(dtype)
  tgan.netD.to(dtype)
  return config, shape, trainer, tgan


def random_batch(rs, config, shape, dtype):
  k, b = config.train.d_steps, config.train.batch_size
  return {'image': rs.uniform(-1, 1, (k, b) + shape).astype(dtype),
          'label': np.zeros((k, b), np.int32)}


def dead_biases(module, example):
  """Paths of Linear biases feeding a BatchNorm (exactly zero gradient; see the module doc)."""
  found, _ = porting.flax_layers(module, example, train=False)
  return {path + ('bias',) for (path, kind, _), (_, next_kind, _) in zip(found, found[1:])
          if kind == 'linear' and next_kind == 'batch_norm'}


# ---------------------------------------------------------------------------------------------
# Porting

@pytest.mark.parametrize('name', PAIRS)
def test_porting_round_trip_is_exact(name):
  config, shape, trainer, tgan = setup(name)
  for module, net, example in ((trainer.generator, tgan.netG, jnp.zeros((1, config.model.latent_dim))),
                               (trainer.discriminator, tgan.netD, jnp.zeros((1,) + shape))):
    sd = bridge.numpy_state_dict(net)
    variables = porting.torch_to_flax(module, sd, example, train=False)
    shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), example, train=False))
    assert jax.tree.structure(variables) == jax.tree.structure(
        {k: v for k, v in shapes.items() if k in variables})
    back = porting.flax_to_torch(module, variables, sd, example, train=False)
    assert back.keys() == sd.keys()
    for key in sd:
      np.testing.assert_array_equal(back[key], sd[key], err_msg=key)


def test_porting_rejects_a_state_dict_of_another_net():
  config = MODELS['dcgan28'].config()
  shape = image_shape_of(config)
  trainer = make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
  mlp = nets.MLPDiscriminator((512, 256), shape)
  with pytest.raises(porting.PortingError, match='parameterised layers|layer order'):
    porting.torch_to_flax(trainer.discriminator, bridge.numpy_state_dict(mlp),
                          jnp.zeros((1,) + shape), train=False)
  other = nets.DCGANDiscriminator(shape, ndf=32)
  with pytest.raises(porting.PortingError, match='shape'):
    porting.torch_to_flax(trainer.discriminator, bridge.numpy_state_dict(other),
                          jnp.zeros((1,) + shape), train=False)


def test_mlp_porting_maps_channel_order_of_colour_images():
  """PyTorch flattens images (C, H, W), jaxgan (H, W, C): the converter permutes the Linear
  that meets the image, so colour MLP nets agree too."""
  from jaxgan.architectures.mlp import MLPDiscriminator, MLPGenerator
  shape = (6, 5, 3)
  torch.manual_seed(0)
  tg, td = nets.MLPGenerator(8, (16,), shape), nets.MLPDiscriminator((16,), shape)
  jg, jd = MLPGenerator((16,), shape), MLPDiscriminator((16,))
  gv = porting.torch_to_flax(jg, bridge.numpy_state_dict(tg), jnp.zeros((1, 8)), train=False)
  dv = porting.torch_to_flax(jd, bridge.numpy_state_dict(td), jnp.zeros((1,) + shape), train=False)
  z = np.random.RandomState(0).randn(4, 8).astype(np.float32)
  with torch.no_grad():
    t_images = tg(torch.from_numpy(z))
    t_logits = td(t_images)
  j_images = jg.apply(gv, z, train=False)
  np.testing.assert_allclose(j_images, t_images.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jd.apply(dv, j_images, train=False), t_logits.numpy(), rtol=1e-5, atol=1e-6)
  back = porting.flax_to_torch(jd, dv, bridge.numpy_state_dict(td), jnp.zeros((1,) + shape), train=False)
  for key, value in bridge.numpy_state_dict(td).items():
    np.testing.assert_array_equal(back[key], value)


# ---------------------------------------------------------------------------------------------
# Forward passes

def _warm_running_stats(net, inputs, passes=3):
  """Gives BatchNorm running statistics realistic values (a few training-mode passes)."""
  net.train()
  with torch.no_grad():
    for i in range(passes):
      net(inputs[i::passes] if len(inputs) >= passes else inputs)


def _apply(module, variables, x, train):
  if 'batch_stats' in variables:
    return module.apply(variables, x, train=train, mutable=['batch_stats'])
  return module.apply(variables, x, train=train), {}


@pytest.mark.parametrize('name', PAIRS)
def test_forward_parity_float32(name):
  config, shape, trainer, tgan = setup(name)
  rs = np.random.RandomState(1)
  b = config.train.batch_size
  z = rs.randn(b, config.model.latent_dim).astype(np.float32)
  _warm_running_stats(tgan.netG, torch.from_numpy(rs.randn(3 * b, config.model.latent_dim).astype(np.float32)))
  _warm_running_stats(tgan.netD, bridge.torch_images(rs.uniform(-1, 1, (3 * b,) + shape)))
  for train in (False, True):  # eval first: a training-mode pass moves the running statistics
    gv = porting.torch_to_flax(trainer.generator, bridge.numpy_state_dict(tgan.netG), z[:1], train=False)
    dv = porting.torch_to_flax(trainer.discriminator, bridge.numpy_state_dict(tgan.netD),
                               jnp.zeros((1,) + shape), train=False)
    tgan.netG.train(train)
    tgan.netD.train(train)
    with torch.no_grad():
      t_images = tgan.netG(torch.from_numpy(z))
      t_logits = tgan.netD(t_images)
    j_images, g_stats = _apply(trainer.generator, gv, z, train)
    j_logits, d_stats = _apply(trainer.discriminator, dv, j_images, train)
    assert max_rel(j_images, t_images.numpy().transpose(0, 2, 3, 1)) < 1e-5, train
    assert max_rel(j_logits, t_logits.numpy()) < 1e-5, train
    # The running statistics a training-mode pass leaves (PyTorch: unbiased variance).
    for module, net, stats, example in ((trainer.generator, tgan.netG, g_stats, z[:1]),
                                        (trainer.discriminator, tgan.netD, d_stats, j_images[:1])):
      if stats:
        expected = porting.torch_to_flax(module, bridge.numpy_state_dict(net), example, train=False)
        errors = jax.tree.map(max_rel, stats['batch_stats'], expected['batch_stats'])
        assert max(jax.tree.leaves(errors)) < 1e-5, errors


# ---------------------------------------------------------------------------------------------
# One full training step

def _steps_both(name, dtype, num_steps):
  """Runs `num_steps` PyTorch training steps; before each, ports PyTorch's whole training state
  (nets, BatchNorm statistics, optimizer moments) to jaxgan, and runs one jaxgan step from it
  with the same real batches, latents and penalty draws. Yields, per step,
  (trainer, config, state before, jaxgan state after, PyTorch state after, metrics, losses).
  Step 0 starts from fresh optimizers; later steps carry PyTorch's moments over."""
  config, shape, trainer, tgan = setup(name, torch.float64 if dtype == np.float64 else torch.float32)
  step = jax.jit(trainer.make_step())
  rs = np.random.RandomState(2)
  for i in range(num_steps):
    before = bridge.state_from_torch(trainer, tgan, i)
    batch = jax.tree.map(jnp.asarray, random_batch(rs, config, shape, dtype))
    key = jax.random.PRNGKey(7 + i)
    after_j, metrics = step(before, batch, key)
    losses = tgan.step(*bridge.torch_step_inputs(trainer, batch, key))
    yield trainer, config, before, after_j, bridge.state_from_torch(trainer, tgan, i + 1), metrics, losses


def _check_dead(config, before, after_j, after_t, dead_g, dead_d):
  lr = max(config.optim.g_lr, config.optim.d_lr)
  for player, dead in (('g', dead_g), ('d', dead_d)):
    for path in dead:
      node = lambda s: _at(getattr(s, player).params, path)
      step_j = np.abs(np.asarray(node(after_j)) - np.asarray(node(before))).max()
      step_t = np.abs(np.asarray(node(after_t)) - np.asarray(node(before))).max()
      assert step_j <= 1.01 * lr and step_t <= 1.01 * lr, (player, path, step_j, step_t)


def _at(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def _leaves(tree, exclude=()):
  """{path: leaf} of a state subtree, leaving out paths that end in one of `exclude`."""
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    names = tuple(getattr(p, 'key', getattr(p, 'name', getattr(p, 'idx', None))) for p in path)
    if not any(tuple(names[-len(e):]) == e for e in exclude):
      out[jax.tree_util.keystr(path)] = leaf
  return out


def _dead(trainer, config):
  return (dead_biases(trainer.generator, jnp.zeros((1, config.model.latent_dim), jnp.float32)),
          dead_biases(trainer.discriminator, jnp.zeros((1,) + trainer.image_shape, jnp.float32)))


@pytest.mark.parametrize('name', PAIRS)
def test_training_step_parity_float64(name):
  """Same function: a step from fresh optimizers and one with moments carried over, to 1e-9."""
  with jax.enable_x64(True):
    for i, (trainer, config, before, after_j, after_t, metrics, losses) in enumerate(
        _steps_both(name, np.float64, 2)):
      dead_g, dead_d = _dead(trainer, config)
      assert jax.tree.leaves(after_j.g.params)[0].dtype == jnp.float64
      for metric, loss in ((metrics['d_loss'], losses[0]), (metrics['g_loss'], losses[1])):
        assert abs(float(metric) - float(loss)) <= 1e-9 * max(1.0, abs(float(loss))), (metric, loss)
      for player, dead in (('g', dead_g), ('d', dead_d)):
        mine = _leaves(getattr(after_j, player), dead)
        theirs = _leaves(getattr(after_t, player), dead)
        assert mine.keys() == theirs.keys()
        errors = {k: max_rel(mine[k], theirs[k]) for k in mine}
        worst = max(errors, key=errors.get)
        assert errors[worst] < 1e-9, (name, i, player, worst, errors[worst])
      _check_dead(config, before, after_j, after_t, dead_g, dead_d)


@pytest.mark.parametrize('name', PAIRS)
def test_training_step_parity_float32(name):
  """A step with carried-over optimizer moments (the second), in float32."""
  for i, (trainer, config, before, after_j, after_t, metrics, losses) in enumerate(
      _steps_both(name, np.float32, 2)):
    if i == 0:
      continue  # Adam's first step is sign(g) * lr: see the module doc.
    dead_g, dead_d = _dead(trainer, config)
    for metric, loss in ((metrics['d_loss'], losses[0]), (metrics['g_loss'], losses[1])):
      assert abs(float(metric) - float(loss)) <= 1e-5 * max(1.0, abs(float(loss))), (metric, loss)
    for player, dead in (('g', dead_g), ('d', dead_d)):
      mine, theirs = getattr(after_j, player), getattr(after_t, player)
      params_j, params_t = _leaves(mine.params, dead), _leaves(theirs.params, dead)
      assert tree_l2_rel(params_j, params_t) < 1e-4, (name, player)
      # How far the step moved the parameters, compared too: a much stricter measure.
      start = _leaves(getattr(before, player).params, dead)
      update_j = {k: np.asarray(params_j[k]) - np.asarray(start[k]) for k in start}
      update_t = {k: np.asarray(params_t[k]) - np.asarray(start[k]) for k in start}
      assert tree_l2_rel(update_j, update_t) < 2e-2, (name, player, tree_l2_rel(update_j, update_t))
      stats_j, stats_t = _leaves(mine.batch_stats), _leaves(theirs.batch_stats)
      for k in stats_t:
        assert max_rel(stats_j[k], stats_t[k]) < 1e-4, (name, player, k)
    _check_dead(config, before, after_j, after_t, dead_g, dead_d)


# ---------------------------------------------------------------------------------------------
# Layers

@pytest.mark.parametrize('shape', [(2, 7, 7, 5, 3), (3, 4, 6, 2, 4), (1, 1, 1, 3, 2)])
def test_conv_transpose_2x_matches_definition_and_torch(shape):
  """Phase-decomposed ConvTranspose2d(4, 2, 1): forward and both gradients, against the
  dilated-input definition (conv_transpose_reference) and torch.nn.functional.conv_transpose2d."""
  b, h, w, cin, cout = shape
  rs = np.random.RandomState(sum(shape))
  x = rs.randn(b, h, w, cin).astype(np.float32)
  kernel = rs.randn(4, 4, cin, cout).astype(np.float32)
  cot = rs.randn(b, 2 * h, 2 * w, cout).astype(np.float32)

  def loss(fn):
    return lambda x, k: jnp.sum(fn(x, k) * cot)

  fast = layers.upsample2x_phase_conv
  ref = lambda x, k: layers.conv_transpose_reference(x, k, 2, 1)
  y_fast, y_ref = fast(x, kernel), ref(x, kernel)
  assert y_fast.shape == (b, 2 * h, 2 * w, cout)
  np.testing.assert_allclose(y_fast, y_ref, rtol=1e-5, atol=1e-5)
  g_fast = jax.grad(loss(fast), argnums=(0, 1))(x, kernel)
  g_ref = jax.grad(loss(ref), argnums=(0, 1))(x, kernel)
  for a, r in zip(g_fast, g_ref):
    np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-4)

  tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
  tk = torch.from_numpy(kernel.transpose(2, 3, 0, 1).copy()).requires_grad_(True)  # [in, out, kh, kw]
  ty = torch.nn.functional.conv_transpose2d(tx, tk, stride=2, padding=1)
  (ty * torch.from_numpy(cot.transpose(0, 3, 1, 2).copy())).sum().backward()
  np.testing.assert_allclose(y_fast, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(g_fast[0], tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(g_fast[1], tk.grad.numpy().transpose(2, 3, 0, 1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('shape', [(16, 10), (8, 5, 5, 6)])
def test_batch_norm_is_pytorch_batch_norm(shape):
  """Forward as flax.linen.BatchNorm (which it replaced) and PyTorch, running statistics as
  PyTorch (unbiased variance), gradients as PyTorch."""
  import flax.linen as nn
  rs = np.random.RandomState(0)
  x = (rs.randn(*shape) * 3 + 1).astype(np.float32)
  channels = shape[-1]
  ours = layers.batch_norm(True, name=None)
  variables = ours.init(jax.random.PRNGKey(0), x)
  variables = {'params': {'scale': rs.uniform(0.5, 1.5, channels).astype(np.float32),
                          'bias': rs.randn(channels).astype(np.float32)},
               'batch_stats': {'mean': rs.randn(channels).astype(np.float32),
                               'var': rs.uniform(0.5, 2, channels).astype(np.float32)}}
  y, updated = ours.apply(variables, x, mutable=['batch_stats'])
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  y_flax, flax_updated = flax_bn.apply(variables, x, mutable=['batch_stats'])
  np.testing.assert_allclose(y, y_flax, rtol=1e-5, atol=1e-5)
  n = x.size // channels
  np.testing.assert_allclose(updated['batch_stats']['mean'], flax_updated['batch_stats']['mean'], rtol=1e-6)
  # flax.linen: 0.9 var + 0.1 biased; PyTorch and ours: 0.9 var + 0.1 unbiased.
  unbiased_flax = (flax_updated['batch_stats']['var'] - 0.9 * variables['batch_stats']['var']) * n / (n - 1) \
      + 0.9 * variables['batch_stats']['var']
  np.testing.assert_allclose(updated['batch_stats']['var'], unbiased_flax, rtol=1e-5)

  torch_bn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(channels)
  with torch.no_grad():
    torch_bn.weight.copy_(torch.from_numpy(variables['params']['scale']))
    torch_bn.bias.copy_(torch.from_numpy(variables['params']['bias']))
    torch_bn.running_mean.copy_(torch.from_numpy(variables['batch_stats']['mean']))
    torch_bn.running_var.copy_(torch.from_numpy(variables['batch_stats']['var']))
  perm = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
  tx = torch.from_numpy(x.transpose(perm).copy()).requires_grad_(True)
  cot = rs.randn(*shape).astype(np.float32)
  ty = torch_bn(tx)
  (ty * torch.from_numpy(cot.transpose(perm).copy())).sum().backward()
  back = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)
  np.testing.assert_allclose(y, ty.detach().numpy().transpose(back), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(updated['batch_stats']['var'], torch_bn.running_var.numpy(), rtol=1e-6)
  np.testing.assert_allclose(updated['batch_stats']['mean'], torch_bn.running_mean.numpy(), rtol=1e-6, atol=1e-7)
  grads = jax.grad(lambda p, x: jnp.sum(ours.apply({'params': p, 'batch_stats': variables['batch_stats']},
                                                   x, mutable=['batch_stats'])[0] * cot),
                   argnums=(0, 1))(variables['params'], x)
  np.testing.assert_allclose(grads[1], tx.grad.numpy().transpose(back), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(grads[0]['scale'], torch_bn.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(grads[0]['bias'], torch_bn.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
  y_eval = layers.batch_norm(False).apply({'params': variables['params'], **updated}, x)
  torch_bn.eval()
  with torch.no_grad():
    np.testing.assert_allclose(y_eval, torch_bn(torch.from_numpy(x.transpose(perm).copy())).numpy().transpose(back),
                               rtol=1e-5, atol=1e-5)


def test_every_model_pair_builds_from_its_config():
  """The registry of pairs stays in step with the configs and the PyTorch builders."""
  for name, pair in MODELS.items():
    if pair.family != 'adversarial':
      continue  # the VAE pair is built in tests/test_vae_parity.py
    config = pair.config()
    shape = image_shape_of(config)
    TorchGAN(config, shape, original=True)
    TorchGAN(config, shape, original=False)
    make_trainer(config, DatasetInfo('offline_mnist', shape, 10, 4500))
