"""Numerical parity of jaxgan's DeepFill v2 networks (jaxgan/architectures/inpainting.py) with
the PyTorch original written to JiahuiYu/generative_inpainting's definitions
(benchmarks/torch_originals/inpainting.py): gated convolutions (strided, dilated, the output
layer), contextual attention (no weights: the same inputs to both, float64), both generators
with ported weights, and the SN-PatchGAN with its power-iteration state in both directions.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import inpainting as originals  # noqa: E402
from jaxgan import porting  # noqa: E402
from jaxgan.architectures.inpainting import (DeepFillV2Generator, GatedConv,  # noqa: E402
                                             SNPatchGAN, contextual_attention)

torch.set_num_threads(1)


def _nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _nhwc(t):
  return t.detach().numpy().transpose(0, 2, 3, 1)


def _box_masks(n, height, width, seed, dtype=np.float32):
  """One random rectangular hole per image, a quarter to a half of each side."""
  rng = np.random.default_rng(seed)
  masks = np.zeros((n, height, width, 1), dtype)
  for i in range(n):
    h, w = rng.integers(height // 4, height // 2 + 1), rng.integers(width // 4, width // 2 + 1)
    top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    masks[i, top:top + h, left:left + w] = 1
  assert all(masks[i].any() for i in range(n)) and not np.array_equal(masks[0], masks[1])
  return masks


@pytest.mark.parametrize('stride,dilation,size,gated', [
    (2, 1, 16, True),    # 'SAME' pads 0 before, 1 after
    (2, 1, 15, True),    # odd side: 1 and 1
    (1, 3, 16, True),    # dilated: the kernel's extent is 7
    (1, 1, 16, False),   # the output layer: no gate, no activation
])
def test_gated_conv_matches_the_original(stride, dilation, size, gated):
  torch.manual_seed(0)
  net = originals.GatedConv2d(5, 6, 3, stride, dilation, gated=gated)
  module = GatedConv(6, 3, stride, dilation, gated=gated)
  x = np.random.default_rng(1).normal(size=(2, size, size, 5)).astype(np.float32)
  state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
  variables = porting.torch_to_flax(module, state, jnp.asarray(x))
  got = np.asarray(module.apply(variables, jnp.asarray(x)))
  want = _nhwc(net(_nchw(x)))
  assert got.shape == want.shape == (2, -(-size // stride), -(-size // stride), 6)
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('same,fuse_size', [(True, 3), (False, 3), (False, 0)])
def test_contextual_attention_matches_the_original_float64(same, fuse_size):
  rng = np.random.default_rng(2)
  f = rng.normal(size=(2, 32, 24, 8))     # not square: the fusion's transposes show
  b = f if same else rng.normal(size=f.shape)
  masks = _box_masks(2, 32, 24, seed=3, dtype=np.float64)
  with jax.enable_x64(True):
    out, attention = contextual_attention(jnp.asarray(f), jnp.asarray(b), jnp.asarray(masks),
                                          fuse_size=fuse_size)
    out, attention = np.asarray(out), np.asarray(attention)
  want_out, want_attention = originals.contextual_attention(_nchw(f), _nchw(b), _nchw(masks),
                                                            fuse_k=fuse_size)
  assert attention.shape == (2, 16, 12, 16 * 12)
  np.testing.assert_allclose(attention, want_attention.numpy(), rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(out, _nhwc(want_out), rtol=1e-9, atol=1e-12)
  assert np.abs(out).mean() > 0.1   # something was pasted


@pytest.mark.parametrize('attention', [True, False])
def test_generator_matches_the_original(attention):
  torch.manual_seed(0)
  net = originals.DeepFillV2Generator(3, 8, attention)
  # At the reference's initialisation every gated layer shrinks its input (ELU * sigmoid of
  # Glorot-scaled sums): the outputs are ~1e-8. Larger weights and biases keep them O(0.1).
  with torch.no_grad():
    for layer in net.modules():
      if isinstance(layer, torch.nn.Conv2d):
        layer.weight.mul_(2.5)
        layer.bias.uniform_(-0.2, 0.2)
  module = DeepFillV2Generator(8, attention)
  variables = originals.generator_to_flax(net, module, (32, 32, 3))
  masks = _box_masks(2, 32, 32, seed=4)
  images = np.random.default_rng(5).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  masked = images * (1 - masks)
  coarse, refined = jax.jit(module.apply)(variables, jnp.asarray(masked), jnp.asarray(masks))
  want_coarse, want_refined = net(_nchw(masked), _nchw(masks))
  for got, want in ((coarse, want_coarse), (refined, want_refined)):
    want = _nhwc(want)
    assert got.shape == want.shape == images.shape and np.abs(want).mean() > 0.05
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4, rtol=1e-4)


def _compare_stats(got, want):
  flat_got = jax.tree_util.tree_flatten_with_path(got)[0]
  flat_want = dict(jax.tree_util.tree_flatten_with_path(want)[0])
  assert len(flat_got) == len(flat_want) and flat_got
  for path, value in flat_got:
    np.testing.assert_allclose(np.asarray(value), flat_want[path], rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))


def test_sn_patch_gan_training_mode_matches_the_original():
  """Three training-mode forwards ported from PyTorch: the outputs and, after each, the power
  iteration's u (and the sigma it gave) equal torch's weight_u."""
  torch.manual_seed(6)
  net = originals.SNPatchGAN(4, 4, 4).train()
  module = SNPatchGAN(4, 4)
  x = np.random.default_rng(7).uniform(-1, 1, (2, 32, 32, 4)).astype(np.float32)
  variables = originals.discriminator_to_flax(net)
  for _ in range(3):
    got, updates = module.apply(variables, jnp.asarray(x), train=True, mutable=['batch_stats'])
    want = net(_nchw(x)).detach().numpy()
    assert got.shape == want.shape == (2, 2 * 2 * 16)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5, rtol=1e-4)
    _compare_stats(updates['batch_stats'], originals.discriminator_to_flax(net)['batch_stats'])
    assert not np.allclose(updates['batch_stats']['conv2_sn']['conv2/kernel/u'],
                           variables['batch_stats']['conv2_sn']['conv2/kernel/u'])
    variables = {'params': variables['params'], 'batch_stats': updates['batch_stats']}


def test_sn_patch_gan_from_flax_and_evaluation_mode():
  """jaxgan's initial variables loaded into PyTorch give the same training forward; in
  evaluation mode (update_stats=False) jaxgan runs the same power iteration and keeps its
  state, which is the reference's forward (it iterates at every call) and what PyTorch's
  training mode computes. (PyTorch's evaluation mode instead divides by the stored u, v,
  without iterating.)"""
  module = SNPatchGAN(4, 4)
  x = np.random.default_rng(8).uniform(-1, 1, (2, 32, 32, 4)).astype(np.float32)
  variables = module.init(jax.random.PRNGKey(9), jnp.asarray(x), train=False)
  net = originals.SNPatchGAN(4, 4, 4)
  originals.discriminator_from_flax(variables, net)
  got, updates = module.apply(variables, jnp.asarray(x), train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(np.asarray(got), net.train()(_nchw(x)).detach().numpy(),
                             atol=1e-5, rtol=1e-4)
  _compare_stats(updates['batch_stats'], originals.discriminator_to_flax(net)['batch_stats'])
  variables = {'params': variables['params'], 'batch_stats': updates['batch_stats']}
  evaluated, unchanged = module.apply(variables, jnp.asarray(x), train=False,
                                      mutable=['batch_stats'])
  fresh = originals.SNPatchGAN(4, 4, 4)
  fresh.load_state_dict(net.state_dict())
  np.testing.assert_allclose(np.asarray(evaluated), fresh.train()(_nchw(x)).detach().numpy(),
                             atol=1e-5, rtol=1e-4)
  for a, b in zip(jax.tree.leaves(unchanged), jax.tree.leaves(variables['batch_stats'])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
