"""Inpainting masks (jaxgan/data/masks.py): the traceable generators have the statistics of
DeepFill v2's numpy + PIL ones (benchmarks/torch_originals/inpainting_masks.py), are binary,
per sample, deterministic in the key and compile; mask files read back."""
import functools

import jax
import numpy as np
import pytest

from benchmarks.torch_originals import inpainting_masks as reference
from jaxgan.data import masks
from jaxgan.errors import DataError

NUM_MASKS = 400
make_masks = jax.jit(masks.make_masks, static_argnums=(0, 2, 3, 4))


@functools.lru_cache(maxsize=None)
def _stroke_masks(num: int, height: int, width: int, seed: int = 0):
  """(masks [num, H, W, 1], stroke counts [num]) as numpy."""
  keys = jax.random.split(jax.random.key(seed), num)
  strokes = jax.jit(jax.vmap(lambda key: masks.stroke_mask(key, height, width)))
  mask, count = strokes(keys)
  return np.asarray(mask), np.asarray(count)


@functools.lru_cache(maxsize=None)
def _masks(kind: str, num: int, height: int, width: int, seed: int = 1):
  return np.asarray(make_masks(kind, jax.random.key(seed), num, height, width))


@functools.lru_cache(maxsize=None)
def _reference_masks(kind: str, num: int, height: int, width: int):
  """(masks, stroke counts or None) from the numpy + PIL generators."""
  rng = np.random.default_rng({'strokes': 10, 'box': 11, 'free_form': 12}[kind] + height)
  if kind == 'strokes':
    drawn = [reference.reference_stroke_mask(rng, height, width) for _ in range(num)]
    return np.stack([m for m, _ in drawn]), np.array([n for _, n in drawn])
  generate = {'box': reference.reference_box_mask,
              'free_form': reference.reference_free_form_mask}[kind]
  return np.stack([generate(rng, height, width) for _ in range(num)]), None


def _assert_same_hole_fraction(what: str, ours: np.ndarray, theirs: np.ndarray):
  """Mean hole fractions within 4 combined standard errors."""
  a, b = ours.mean(axis=(1, 2, 3)), theirs.mean(axis=(1, 2, 3))
  se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
  diff = a.mean() - b.mean()
  assert abs(diff) < 4 * se, (
      f'{what}: hole fraction jax {a.mean():.4f} (sd {a.std():.4f}, n {len(a)}) vs reference '
      f'{b.mean():.4f} (sd {b.std():.4f}, n {len(b)}): diff {diff:+.4f}, 4 se = {4 * se:.4f}')


@pytest.mark.parametrize('kind', ['strokes', 'box', 'free_form'])
def test_hole_fractions_match_the_reference_at_64(kind):
  ours = _stroke_masks(NUM_MASKS, 64, 64)[0] if kind == 'strokes' else \
      _masks(kind, NUM_MASKS, 64, 64)
  theirs, _ = _reference_masks(kind, NUM_MASKS, 64, 64)
  _assert_same_hole_fraction(f'{kind} at 64x64', ours, theirs)


def test_free_form_hole_fraction_matches_the_reference_at_128():
  ours = _masks('free_form', 150, 128, 128)
  theirs, _ = _reference_masks('free_form', 150, 128, 128)
  _assert_same_hole_fraction('free_form at 128x128', ours, theirs)


def test_one_to_three_strokes_equally_often_and_more_strokes_cover_more():
  mask, count = _stroke_masks(NUM_MASKS, 64, 64)
  assert set(np.unique(count)) == {1, 2, 3}
  frequencies = np.bincount(count, minlength=4)[1:] / len(count)
  sd = np.sqrt(1 / 3 * 2 / 3 / len(count))
  assert np.all(np.abs(frequencies - 1 / 3) < 4 * sd), frequencies
  assert abs(count.mean() - 2) < 4 * np.sqrt(2 / 3 / len(count)), count.mean()
  fraction = mask.mean(axis=(1, 2, 3))
  by_count = [fraction[count == n].mean() for n in (1, 2, 3)]
  assert by_count[0] < by_count[1] < by_count[2], by_count   # the count is what was drawn
  _, reference_count = _reference_masks('strokes', NUM_MASKS, 64, 64)
  assert set(np.unique(reference_count)) == {1, 2, 3}


@pytest.mark.parametrize('kind', masks.MASK_KINDS)
def test_masks_are_binary_per_sample_deterministic_and_compile(kind):
  key = jax.random.key(7)
  batch = np.asarray(make_masks(kind, key, 6, 64, 64))
  assert batch.shape == (6, 64, 64, 1) and batch.dtype == np.float32
  assert set(np.unique(batch)) <= {0.0, 1.0}
  assert np.all(batch.sum(axis=(1, 2, 3)) > 0)                        # every mask has a hole
  flat = batch.reshape(6, -1)
  assert all(not np.array_equal(flat[i], flat[j]) for i in range(6) for j in range(i))
  np.testing.assert_array_equal(batch, np.asarray(make_masks(kind, key, 6, 64, 64)))
  assert not np.array_equal(batch, np.asarray(make_masks(kind, jax.random.key(8), 6, 64, 64)))


def test_box_holes_are_rectangles_of_the_reference_size_inside_the_image():
  for (height, width), batch in (((64, 64), _masks('box', NUM_MASKS, 64, 64)),
                                 ((48, 80), _masks('box', 40, 48, 80))):
    shrink_h, shrink_w = (height // 8) // 2, (width // 8) // 2
    sizes = set()
    for mask in batch[..., 0]:
      rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
      top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
      assert mask[top:bottom, left:right].all() and mask.sum() == (bottom - top) * (right - left)
      assert height // 2 - 2 * shrink_h <= bottom - top <= height // 2, (top, bottom)
      assert width // 2 - 2 * shrink_w <= right - left <= width // 2, (left, right)
      assert (bottom - top) % 2 == 0 and (right - left) % 2 == 0   # shrunk equally each side
      sizes.add((bottom - top, right - left))
    if (height, width) == (64, 64):
      assert len(sizes) == (shrink_h + 1) * (shrink_w + 1)   # every shrink occurs


def test_strokes_are_drawn_as_pil_draws_them():
  """The same strokes, drawn by draw_strokes and by PIL (the reference's draw_stroke)."""
  from PIL import Image, ImageDraw
  rng = np.random.default_rng(3)
  size, num = 64, 150
  strokes = [reference.reference_stroke(rng, size, size) for _ in range(num)]
  vertices = np.zeros((num, 1, masks.MAX_SEGMENTS + 1, 2), np.float32)
  for i, (vertex, _) in enumerate(strokes):
    vertices[i, 0, :len(vertex)] = vertex
  num_segments = np.array([[len(vertex) - 1] for vertex, _ in strokes])
  widths = np.array([[width] for _, width in strokes], np.float32)
  ours = np.asarray(jax.jit(jax.vmap(lambda v, n, w: masks.draw_strokes(v, n, w, size, size)))(
      vertices, num_segments, widths))
  theirs = []
  for vertex, width in strokes:
    image = Image.new('L', (size, size), 0)
    reference.draw_stroke(ImageDraw.Draw(image), vertex, width)
    theirs.append(np.asarray(image) > 0)
  theirs = np.stack(theirs)
  ratio = ours.sum() / theirs.sum()
  differ = (ours ^ theirs).sum() / theirs.sum()
  assert abs(ratio - 1) < 0.02 and differ < 0.05, (
      f'stroke pixels jax / PIL = {ratio:.4f}, differing pixels / PIL\'s = {differ:.4f}')
  for parity in (0, 1):   # even widths get PIL's larger vertex discs, odd ones do not
    pick = np.array([width % 2 == parity for _, width in strokes])
    assert abs(ours[pick].sum() / theirs[pick].sum() - 1) < 0.03, parity


def test_strokes_on_a_wide_image_match_the_reference_across_the_width():
  ours, _ = _stroke_masks(200, 32, 128)
  theirs, _ = _reference_masks('strokes', 200, 32, 128)
  assert ours.shape == theirs.shape == (200, 32, 128, 1)
  for name, columns in (('left half', slice(0, 64)), ('right half', slice(64, 128))):
    _assert_same_hole_fraction(f'strokes at 32x128, {name}', ours[:, :, columns],
                               theirs[:, :, columns])


def test_unknown_mask_kind_is_a_value_error():
  with pytest.raises(ValueError, match='free_form'):
    masks.make_masks('circle', jax.random.key(0), 2, 16, 16)


def test_read_mask_file_round_trip_colour_and_size_check(tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  holes = rng.random((20, 30)) > 0.5
  grey = np.where(holes, 255, 0).astype(np.uint8)
  Image.fromarray(grey).save(tmp_path / 'mask.png')
  got = masks.read_mask_file(str(tmp_path / 'mask.png'), 20, 30)
  assert got.shape == (20, 30, 1) and got.dtype == np.float32
  np.testing.assert_array_equal(got[..., 0], holes.astype(np.float32))
  # A colour file: the grey value decides, threshold 127.5.
  colour = np.zeros((20, 30, 3), np.uint8)
  colour[:10] = 200
  colour[10:] = 100
  Image.fromarray(colour).save(tmp_path / 'colour.png')
  got = masks.read_mask_file(str(tmp_path / 'colour.png'))
  assert got[:10].all() and not got[10:].any()
  with pytest.raises(DataError, match='20x30'):
    masks.read_mask_file(str(tmp_path / 'mask.png'), 30, 20)
  (tmp_path / 'not_an_image.png').write_text('no pixels here')
  with pytest.raises(DataError, match='cannot read'):
    masks.read_mask_file(str(tmp_path / 'not_an_image.png'))
  with pytest.raises(DataError, match='cannot read'):
    masks.read_mask_file(str(tmp_path / 'missing.png'))
