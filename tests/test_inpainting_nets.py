"""Properties of the DeepFill v2 networks (jaxgan/architectures/inpainting.py) that hold by
construction: a closed gate silences a gated convolution and an open one passes ELU of the
features; contextual attention copies a patch that exists verbatim outside the hole into the
hole; the spectral norm's power iteration converges to the kernel's largest singular value;
the generator's shapes, range, size check and gradients; the push-pull fill keeps the known
pixels, fills a constant image with its constant and a ramp close to the ramp, and the
prefilled generator starts at that fill; the in-graph biharmonic fill keeps the known pixels
and agrees with scikit-image's exact biharmonic solve.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.architectures.inpainting import (DeepFillV2Generator, GatedConv, SNPatchGAN,
                                             biharmonic_cg_fill, contextual_attention,
                                             push_pull_fill)


def _variables(module, *args, seed=0, **kwargs):
  """Variables shaped as `module.init` makes them, drawn with numpy: Glorot-uniform kernels,
  zero biases, N(0, 1) power-iteration vectors, sigma 1. (`init` compiles a random-number
  kernel per parameter shape, a second or more each on a busy CPU.)"""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, **kwargs))

  def draw(path, leaf):
    name, shape = path[-1].key, leaf.shape
    if name == 'kernel':
      receptive = math.prod(shape[:-2])
      limit = math.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
      return jnp.asarray(rng.uniform(-limit, limit, shape), leaf.dtype)
    if name.endswith('/u'):
      return jnp.asarray(rng.normal(size=shape), leaf.dtype)
    return jnp.ones(shape, leaf.dtype) if name.endswith('/sigma') else jnp.zeros(shape, leaf.dtype)
  return jax.tree_util.tree_map_with_path(draw, shapes)


def _gated_conv_with_gate(gate_bias: float):
  module = GatedConv(4, 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
  params = _variables(module, x)['params']
  kernel = params['kernel'].at[..., 4:].set(0.0)     # the gate half: channels 4..7
  bias = jnp.asarray(np.random.default_rng(1).normal(size=8), jnp.float32).at[4:].set(gate_bias)
  out = module.apply({'params': {'kernel': kernel, 'bias': bias}}, x)
  features = GatedConv(4, 3, gated=False).apply(
      {'params': {'kernel': kernel[..., :4], 'bias': bias[:4]}}, x)
  return np.asarray(out), np.asarray(features)


def test_a_closed_gate_silences_the_convolution():
  out, features = _gated_conv_with_gate(-1e4)
  assert out.shape == (2, 8, 8, 4) and np.abs(features).max() > 0.1
  np.testing.assert_array_equal(out, 0.0)


def test_an_open_gate_passes_elu_of_the_features():
  out, features = _gated_conv_with_gate(1e4)
  assert (features < 0).any() and (features > 0).any()   # both branches of ELU
  np.testing.assert_allclose(out, np.asarray(jax.nn.elu(features)), rtol=1e-6, atol=1e-7)


def test_contextual_attention_copies_a_verbatim_patch_into_the_hole():
  """A 64x64 map of random features (16 channels) whose hole holds an exact copy of a region
  30 pixels (15 half-resolution positions) to its left; the attention must paste that region.

  Geometry at half resolution (rate 2, 32x32 grid): the hole is rows 8..19, cols 16..27. A
  query at p matches background patches through 3x3 patches, and the fusion sums the scores
  of the 3x3 neighbourhood of (query, patch) pairs shifted together, so the score of p against
  its source p - (0, 15) involves the 5x5 neighbourhood of p: for p in rows 10..17, cols
  18..25 (two inside the hole's border) that neighbourhood is inside the copied region, so all
  nine terms are exact matches (cosine 1) and the source is the clear argmax (random 144-d
  patches elsewhere score near 0). The sources' 5x5 neighbourhoods (cols 1..12) lie outside
  the hole and away from the image border, so they are valid, unpadded patches. A full-
  resolution pixel receives the 2 x 2 raw 4x4 patches pasted by the positions whose windows
  (2i - 1 .. 2i + 2) cover it: rows 21..34 and cols 37..50 are covered only by checked
  queries, so each of the four pastes holds the source pixel and their mean (the /4) is it.
  """
  rate, shift = 2, 30
  x = np.random.default_rng(0).normal(size=(1, 64, 64, 16)).astype(np.float32)
  hole_rows, hole_cols = slice(16, 40), slice(32, 56)            # full resolution
  x[:, hole_rows, hole_cols] = x[:, hole_rows, 32 - shift:56 - shift]
  mask = np.zeros((1, 64, 64, 1), np.float32)
  mask[:, hole_rows, hole_cols] = 1.0
  out, attention = jax.jit(contextual_attention)(jnp.asarray(x), jnp.asarray(x), jnp.asarray(mask))
  out, attention = np.asarray(out), np.asarray(attention)
  assert out.shape == x.shape and attention.shape == (1, 32, 32, 32 * 32)
  rows, cols = np.meshgrid(np.arange(10, 18), np.arange(18, 26), indexing='ij')
  source = rows * 32 + (cols - shift // rate)                    # row-major patch index
  np.testing.assert_array_equal(attention[0, rows, cols].argmax(-1), source)
  assert attention[0, rows, cols].max(-1).min() > 0.999
  np.testing.assert_allclose(out[0, 21:35, 37:51], x[0, 21:35, 37 - shift:51 - shift],
                             atol=1e-5, rtol=1e-5)
  # Nothing is taken from inside the hole (those patches are masked out of the softmax).
  hole_patches = np.zeros((32, 32), bool)
  hole_patches[7:21, 15:29] = True   # every patch that touches half-resolution rows 8..19, cols 16..27
  assert attention[0][..., hole_patches.ravel()].max() == 0.0


def test_contextual_attention_has_finite_gradients_on_all_zero_patches():
  """ReLU features make all-zero patches, where the norm's square root has an infinite
  derivative; the layer floors the norm before the root, so gradients stay finite."""
  x = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(3), (2, 16, 16, 4)))
  x = x.at[:, :8].set(0.0)
  mask = jnp.zeros((2, 16, 16, 1)).at[0, 10:14, 4:12].set(1.0).at[1, 2:6, 2:8].set(1.0)
  grad = jax.jit(jax.grad(lambda f: jnp.sum(contextual_attention(f, f, mask)[0] ** 2)))(x)
  assert np.isfinite(np.asarray(grad)).all() and np.abs(np.asarray(grad)).max() > 0


def test_spectral_norm_converges_to_the_largest_singular_value():
  module = SNPatchGAN(features=4, num_layers=3)
  x = jax.random.uniform(jax.random.PRNGKey(4), (2, 32, 32, 4), minval=-1, maxval=1)
  variables = _variables(module, x, seed=5, train=False)
  params, stats = variables['params'], variables['batch_stats']

  @jax.jit
  def train_forward(stats):
    out, updates = module.apply({'params': params, 'batch_stats': stats}, x, train=True,
                                mutable=['batch_stats'])
    return out, updates['batch_stats']

  def relative_errors(stats):
    errors = []
    for i in range(1, 4):
      kernel = np.asarray(params[f'conv{i}']['kernel'])
      largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
      sigma = float(stats[f'conv{i}_sn'][f'conv{i}/kernel/sigma'])
      errors.append(abs(sigma - largest) / largest)
    return np.array(errors)

  _, stats = train_forward(stats)
  first = relative_errors(stats)
  for _ in range(99):
    _, stats = train_forward(stats)
  final = relative_errors(stats)
  assert (final < 1e-3).all(), final
  assert (first > final).all() and first.max() > 1e-2, (first, final)   # one step is not enough


def test_generator_shapes_range_and_size_check():
  module = DeepFillV2Generator(channels=8)
  images = jax.random.uniform(jax.random.PRNGKey(6), (2, 64, 64, 3), minval=-1, maxval=1)
  masks = jnp.zeros((2, 64, 64, 1)).at[0, 10:30, 20:50].set(1.0).at[1, 40:60, 5:25].set(1.0)
  params = _variables(module, images, masks, seed=7)['params']
  coarse, refined = jax.jit(module.apply)({'params': params}, images * (1 - masks), masks)
  for out in (coarse, refined):
    assert out.shape == images.shape
    assert np.isfinite(np.asarray(out)).all() and float(jnp.max(jnp.abs(out))) <= 1.0
  with pytest.raises(ValueError, match='multiples of 8'):
    module.init(jax.random.PRNGKey(7), images[:, :60, :60], masks[:, :60, :60])
  with pytest.raises(ValueError, match='multiples of 8'):
    module.init(jax.random.PRNGKey(7), images[:, :, :36], masks[:, :, :36])


def test_generator_gradients_are_finite_and_reach_every_layer():
  module = DeepFillV2Generator(channels=4)
  images = jax.random.uniform(jax.random.PRNGKey(8), (1, 32, 32, 1), minval=-1, maxval=1)
  # A corner hole: at 32x32 the attention grid is 4x4, and a central hole would touch every
  # 3x3 background patch, leaving the attention branch nothing to attend to (output 0).
  masks = jnp.zeros((1, 32, 32, 1)).at[0, :8, :8].set(1.0)
  params = _variables(module, images, masks, seed=9)['params']

  def loss(p):
    coarse, refined = module.apply({'params': p}, images * (1 - masks), masks)
    return jnp.mean(jnp.abs(images - coarse)) + jnp.mean(jnp.abs(images - refined))

  grads = jax.jit(jax.grad(loss))(params)
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  assert len(flat) == 2 * 42   # kernel and bias of each of the 42 convolutions
  for path, g in flat:
    g = np.asarray(g)
    assert np.isfinite(g).all(), jax.tree_util.keystr(path)
  kernels = [np.abs(np.asarray(g)).max() for path, g in flat if path[-1].key == 'kernel']
  assert min(kernels) > 0


def _holes(batch, height, width):
  return (jnp.zeros((batch, height, width, 1)).at[0, 10:30, 20:50].set(1.0)
          .at[1, 40:60, 5:25].set(1.0).at[1, :6, :6].set(1.0))


def test_push_pull_fill_keeps_known_pixels_and_fills_constants_and_ramps():
  masks = _holes(2, 64, 72)   # 72: odd sides appear on the way down (9 -> 5 -> 3 -> 2)
  rng = np.random.default_rng(3)
  images = jnp.asarray(rng.uniform(-1, 1, (2, 64, 72, 3)), jnp.float32)
  fill = np.asarray(jax.jit(push_pull_fill)(images * (1 - masks), masks))
  known = np.asarray(masks)[..., 0] == 0
  np.testing.assert_allclose(fill[known], np.asarray(images)[known], atol=1e-6)
  constant = jnp.full((2, 64, 72, 3), 0.3)
  np.testing.assert_allclose(push_pull_fill(constant * (1 - masks), masks), 0.3, atol=1e-6)
  ramp = jnp.broadcast_to(jnp.linspace(-1, 1, 72)[None, None, :, None], (2, 64, 72, 3))
  ramp_fill = np.asarray(push_pull_fill(ramp * (1 - masks), masks))
  hole = ~known
  error = np.abs(ramp_fill - np.asarray(ramp))[hole].mean()
  mean_colour_error = np.abs(np.asarray(ramp)[hole] - np.asarray(ramp)[known].mean()).mean()
  assert error < 0.2 * mean_colour_error, (error, mean_colour_error)


def test_biharmonic_cg_fill_agrees_with_scikit_images_solve():
  from skimage.restoration import inpaint_biharmonic
  # Smooth images (biharmonic fills are exact for them only in the limit), holes away from the
  # image borders, where scikit-image truncates its stencil and the grid Laplacian is Neumann.
  yy, xx = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing='ij')
  base = np.stack([np.sin(2 * xx) * np.cos(yy), 0.5 * xx * yy, np.cos(3 * yy) * 0.4], -1)
  images = np.stack([base, base[::-1, ::-1] * 0.8]).astype(np.float32)
  masks = np.zeros((2, 64, 64, 1), np.float32)
  masks[0, 12:36, 20:44] = 1.0
  masks[1, 30:52, 8:30] = 1.0
  masks[1, 10:20, 40:56] = 1.0
  fill = np.asarray(jax.jit(biharmonic_cg_fill)(jnp.asarray(images * (1 - masks)),
                                                jnp.asarray(masks)))
  known = masks[..., 0] == 0
  np.testing.assert_array_equal(fill[known], images[known])
  exact = np.stack([inpaint_biharmonic((im + 1) / 2, m[..., 0] > 0, channel_axis=-1) * 2 - 1
                    for im, m in zip(images, masks)])
  hole = ~known
  error = np.abs(fill - exact)[hole].mean()
  mean_colour_error = np.abs(exact - images[known].mean(0))[hole].mean()
  assert error < 0.02 * mean_colour_error, (error, mean_colour_error)
  constant = jnp.full((2, 64, 64, 3), -0.4)
  np.testing.assert_allclose(biharmonic_cg_fill(constant * (1 - masks), jnp.asarray(masks)),
                             -0.4, atol=1e-5)


@pytest.mark.parametrize('prefill, fill_fn', [('push_pull', push_pull_fill),
                                              ('biharmonic', biharmonic_cg_fill)])
def test_prefilled_generator_starts_at_its_fill_and_learns_from_there(prefill, fill_fn):
  module = DeepFillV2Generator(channels=4, init_scheme='gated', prefill=prefill)
  images = jax.random.uniform(jax.random.PRNGKey(6), (2, 32, 32, 3), minval=-1, maxval=1)
  masks = _holes(2, 32, 32)
  # One compiled init (eager init compiles a random-number kernel per parameter shape).
  params = jax.jit(module.init)(jax.random.PRNGKey(1), images * (1 - masks), masks)['params']
  coarse, refined = jax.jit(module.apply)({'params': params}, images * (1 - masks), masks)
  fill = jax.jit(fill_fn)(images * (1 - masks), masks)
  np.testing.assert_array_equal(np.asarray(coarse), np.asarray(fill))
  np.testing.assert_array_equal(np.asarray(refined), np.asarray(fill))

  def loss(p):
    coarse, refined = module.apply({'params': p}, images * (1 - masks), masks)
    return jnp.mean(jnp.abs(images - coarse)) + jnp.mean(jnp.abs(images - refined))

  grads = jax.jit(jax.grad(loss))(params)   # the zero last layers get gradients: training moves
  for name in ('conv17', 'allconv17'):
    assert float(jnp.abs(grads[name]['kernel']).max()) > 0
  # The corrections act inside the hole only: outside it both stages return the input exactly.
  moved = jax.tree_util.tree_map(lambda p, g: p - 0.1 * jnp.sign(g), params, grads)
  coarse, refined = jax.jit(module.apply)({'params': moved}, images * (1 - masks), masks)
  known = np.broadcast_to(np.asarray(masks) == 0, images.shape)
  for stage in (coarse, refined):
    np.testing.assert_array_equal(np.asarray(stage)[known], np.asarray(images)[known])
    assert np.abs(np.asarray(stage) - np.asarray(fill))[~known].max() > 1e-3
  with pytest.raises(ValueError, match='prefill'):
    DeepFillV2Generator(channels=4, prefill='telea').init(
        jax.random.PRNGKey(1), images, masks)


def test_contrast_normalised_corrections_follow_the_images_contrast():
  """With model.contrast_normalise the prefilled net is equivariant to a change of contrast and
  brightness (the push-pull fill is a weighted mean, so it is too), and a flat image gets a
  correction near zero whatever the weights."""
  module = DeepFillV2Generator(channels=4, init_scheme='gated', prefill='push_pull',
                               contrast_normalise=True)
  images = jax.random.uniform(jax.random.PRNGKey(6), (2, 32, 32, 3), minval=-0.5, maxval=0.5)
  masks = _holes(2, 32, 32)
  params = jax.jit(module.init)(jax.random.PRNGKey(1), images * (1 - masks), masks)['params']
  # Weights away from the zero start, so that the corrections are not zero.
  params = jax.tree_util.tree_map(
      lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape), params)
  apply = jax.jit(lambda x: module.apply({'params': params}, x * (1 - masks), masks)[1])
  fill = jax.jit(push_pull_fill)(images * (1 - masks), masks)
  refined = apply(images)
  assert float(jnp.abs(refined - fill).max()) > 0.05   # the corrections are there
  np.testing.assert_allclose(np.asarray(apply(0.5 * images + 0.2)),
                             np.asarray(0.5 * refined + 0.2), atol=2e-3)
  flat = jnp.full_like(images, 0.3) + 1e-4 * images
  assert float(jnp.abs(apply(flat) - 0.3).max()) < 5e-3
