"""Numerical parity of jaxgan's CycleGAN and pix2pix with the PyTorch originals written to
junyanz/pytorch-CycleGAN-and-pix2pix's definitions (benchmarks/torch_originals/image_to_image.py):
the ResNet generator, the U-Net (training and evaluation mode) and the PatchGAN forward with
ported weights, and one training step of each model (float64, the same function to rounding).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import image_to_image as originals  # noqa: E402
from configs import cyclegan as cyclegan_config  # noqa: E402
from configs import pix2pix as pix2pix_config  # noqa: E402
from jaxgan import porting  # noqa: E402
from jaxgan.architectures.image_to_image import (PatchDiscriminator, ResnetGenerator,  # noqa: E402
                                                 UnetGenerator)
from jaxgan.data.translation import TranslationInfo  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402
from jaxgan.trainers.image_to_image import CycleGANState, Pix2PixState, empty_pool  # noqa: E402
from jaxgan.trainers.players import Player  # noqa: E402

torch.set_num_threads(1)
SIZE = 32


def _sd(net):
  return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def _port(module, net, x, dtype):
  return porting.torch_to_flax(module, _sd(net), jnp.zeros((1,) + x.shape[1:], dtype),
                               dtype=dtype, train=False)


def _nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _nhwc(t):
  return t.detach().numpy().transpose(0, 2, 3, 1)


def _images(channels, n=2, seed=0, dtype=np.float32):
  return np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, channels)).astype(dtype)


@pytest.mark.parametrize('which', ['resnet', 'unet_train', 'unet_eval', 'patchgan'])
def test_forward_parity_with_ported_weights(which):
  torch.manual_seed(0)
  if which == 'resnet':
    net = originals.init_weights(originals.ResnetGenerator(
        1, 3, 4, originals.get_norm_layer('instance'), n_blocks=2))
    module, x = ResnetGenerator(3, 4, 2, 'instance'), _images(1)
  elif which.startswith('unet'):
    net = originals.init_weights(originals.UnetGenerator(3, 3, 5, 4, originals.get_norm_layer('batch')))
    module, x = UnetGenerator(3, 5, 4, 'batch', 0.0), _images(3)
    with torch.no_grad():   # non-trivial running statistics for evaluation mode
      for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
          m.running_mean.uniform_(-0.5, 0.5)
          m.running_var.uniform_(0.5, 2.0)
  else:
    net = originals.init_weights(originals.NLayerDiscriminator(4, 4, 2, originals.get_norm_layer('instance')))
    module, x = PatchDiscriminator(4, 2, 'instance'), _images(4)
  train = which == 'unet_train'
  net.train(train)
  variables = _port(module, net, x, np.float32)
  want = net(_nchw(x))
  want = want.detach().numpy()[:, 0] if which == 'patchgan' else _nhwc(want)
  got = module.apply(variables, jnp.asarray(x), train=train,
                     mutable=['batch_stats'] if train else False)
  got = np.asarray(got[0] if train else got)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)


def _compare_trees(jax_tree, torch_tree, what):
  flat_j = jax.tree_util.tree_flatten_with_path(jax_tree)[0]
  flat_t = dict((jax.tree_util.keystr(p), v) for p, v in jax.tree_util.tree_flatten_with_path(torch_tree)[0])
  assert len(flat_j) == len(flat_t) and flat_j
  for path, value in flat_j:
    other = flat_t[jax.tree_util.keystr(path)]
    np.testing.assert_allclose(np.asarray(value), np.asarray(other), rtol=1e-7, atol=1e-10,
                               err_msg=f'{what} {jax.tree_util.keystr(path)}')


def _tiny(config):
  config.model.g_features = 4
  config.model.d_features = 4
  config.model.resnet_blocks = 1
  config.model.d_layers = 2
  config.train.batch_size = 2
  config.train.num_steps = 10
  # A Python-float rate: optax's schedules hold the rate in float32, which would show at 1e-8
  # in a float64 comparison (the first step's rate is the same either way).
  config.optim.schedule = 'constant'
  return config


def test_one_cyclegan_training_step_matches_the_original_float64():
  config = _tiny(cyclegan_config.get_config())
  config.cycle.pool_size = 0     # the pool's own randomness is tested apart
  info = TranslationInfo('test', (SIZE, SIZE, 1), (SIZE, SIZE, 1), 0, 2, 2, False)
  with jax.enable_x64(True):
    torch.manual_seed(1)
    model = originals.TorchCycleGAN(config, 1, 1)
    for net in model.nets():
      net.double()
    model.criterionGAN.double()   # its target buffers, else BCE runs in float32
    import itertools   # optimizers over the float64 parameters
    model.optimizer_G = originals._adam(config, itertools.chain(model.netG_A.parameters(),
                                                                model.netG_B.parameters()), config.optim.g_lr)
    model.optimizer_D = originals._adam(config, itertools.chain(model.netD_A.parameters(),
                                                                model.netD_B.parameters()), config.optim.d_lr)
    trainer = make_trainer(config, info)
    a, b = _images(1, seed=2, dtype=np.float64), _images(1, seed=3, dtype=np.float64)

    def ported(m):
      return {'a_to_b': _port(trainer.g_ab, m.netG_A, a, np.float64)['params'],
              'b_to_a': _port(trainer.g_ba, m.netG_B, b, np.float64)['params']}, \
             {'a': _port(trainer.d_a, m.netD_B, a, np.float64)['params'],
              'b': _port(trainer.d_b, m.netD_A, b, np.float64)['params']}

    g_params, d_params = ported(model)
    state = CycleGANState(jnp.zeros((), jnp.int32), Player(g_params, {}, trainer.g_tx.init(g_params)),
                          Player(d_params, {}, trainer.d_tx.init(d_params)),
                          empty_pool(0, (SIZE, SIZE, 1)), empty_pool(0, (SIZE, SIZE, 1)))
    batch = {'a': jnp.asarray(a)[None], 'b': jnp.asarray(b)[None]}
    after, metrics = jax.jit(trainer.make_step())(state, batch, jax.random.PRNGKey(0))
    model.train()
    loss = model.optimize_parameters(_nchw(a), _nchw(b))
    assert float(metrics['g_loss']) == pytest.approx(loss, rel=1e-9)
    g_want, d_want = ported(model)
    assert float(metrics['cycle_a'] + metrics['cycle_b']) == pytest.approx(
        float(model.loss_cycle_A + model.loss_cycle_B), rel=1e-9)
    _compare_trees(after.g.params, g_want, 'generators')
    _compare_trees(after.d.params, d_want, 'discriminators')


def test_one_pix2pix_training_step_matches_the_original_float64():
  config = _tiny(pix2pix_config.get_config())
  config.model.dropout = 0.0     # dropout masks cannot match across frameworks
  info = TranslationInfo('test', (SIZE, SIZE, 1), (SIZE, SIZE, 3), 0, 2, 2, True)
  with jax.enable_x64(True):
    torch.manual_seed(4)
    model = originals.TorchPix2Pix(config, 1, 3)
    for net in model.nets():
      net.double()
    model.criterionGAN.double()   # its target buffers, else BCE runs in float32
    model.optimizer_G = originals._adam(config, model.netG.parameters(), config.optim.g_lr)
    model.optimizer_D = originals._adam(config, model.netD.parameters(), config.optim.d_lr)
    trainer = make_trainer(config, info)
    a, b = _images(1, seed=5, dtype=np.float64), _images(3, seed=6, dtype=np.float64)
    ab = np.concatenate([a, b], -1)

    def ported(m):
      return (_port(trainer.generator, m.netG, a, np.float64),
              _port(trainer.discriminator, m.netD, ab, np.float64))

    g_vars, d_vars = ported(model)
    state = Pix2PixState(
        jnp.zeros((), jnp.int32),
        Player(g_vars['params'], g_vars['batch_stats'], trainer.g_tx.init(g_vars['params'])),
        Player(d_vars['params'], d_vars['batch_stats'], trainer.d_tx.init(d_vars['params'])))
    batch = {'a': jnp.asarray(a)[None], 'b': jnp.asarray(b)[None]}
    after, metrics = jax.jit(trainer.make_step())(state, batch, jax.random.PRNGKey(0))
    model.train()
    loss = model.optimize_parameters(_nchw(a), _nchw(b))
    assert float(metrics['g_loss']) == pytest.approx(loss, rel=1e-9)
    g_want, d_want = ported(model)
    _compare_trees(after.g.params, g_want['params'], 'generator')
    _compare_trees(after.d.params, d_want['params'], 'discriminator')
    _compare_trees(after.g.batch_stats, g_want['batch_stats'], 'generator statistics')
    _compare_trees(after.d.batch_stats, d_want['batch_stats'], 'discriminator statistics')
