"""Hole masks for inpainting, drawn from a key inside the compiled step, and mask files.

The generators follow DeepFill v2 (JiahuiYu/generative_inpainting, inpaint_ops.py), whose
free-form training mask is a box OR-ed with brush strokes; sizes are the reference's at
256x256, scaled to the image:

  box_mask      `random_bbox` + `bbox2mask`: a box of half the height and width at a uniform
                position (top in 0..H - H/2 - 1, left likewise), shrunk on each side by a
                uniform 0..(H/8)//2 rows and, independently, 0..(W/8)//2 columns
  stroke_mask   `brush_stroke_mask`: 1 to 3 strokes; each a zig-zag of 4 to 11 segments
                (angles alternate around 2*pi/5 and 2*pi - 2*pi/5 within a random spread),
                from a uniform start, of lengths ~ N(r, r//2) clipped to [0, 2r] with
                r = sqrt(H^2 + W^2)/8, every vertex clipped to the image and truncated to
                integers, as the reference does; widths uniform in 12..40 (times min(H, W)/256)
  free_form_mask  the box OR the strokes (the reference's training mask)

Everything is traceable (jit and vmap, static shapes): `draw_strokes` draws a stroke as the
pixels within width/2 of its segments (PIL's wide line) or within width//2 + 1/4 of its
vertices (the disc PIL's `ellipse` fills from the box (x - width//2, ..., x + width//2)), on
integer pixel centres, over a fixed 3 strokes x 11 segments with the ones not drawn masked
out. Measured against PIL on the same strokes, this covers the same number of pixels to
within 1% (about 4% of the stroke's pixels differ, along its edges: PIL's wide lines come in
quantised widths on diagonals). Departures from the reference: x runs over the width
and y over the height (the reference's `h, w = mask.size` swaps them, which only matters for
non-square images), and no flip (the reference's `mask.transpose` result is dropped, so it
never flips either). benchmarks/torch_originals/inpainting_masks.py is the numpy + PIL
version the statistics are checked against (tests/test_inpainting_masks.py).

Masks are float32 [H, W, 1] with holes = 1.0. `read_mask_file` reads a fixed mask from an image
file in the same convention (white = hole).
"""
import functools
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import DataError

MASK_KINDS = ('free_form', 'box')

MIN_NUM_VERTEX, MAX_NUM_VERTEX = 4, 12     # randint's bounds: 4..11 segments a stroke
MAX_STROKES = 3                            # randint(1, 4)
MAX_SEGMENTS = MAX_NUM_VERTEX - 1
MEAN_ANGLE = 2 * math.pi / 5
ANGLE_RANGE = 2 * math.pi / 15
MIN_WIDTH, MAX_WIDTH = 12, 40              # at 256x256, scaled by min(H, W)/256


# Each random draw costs compile time (a threefry each), so every generator makes one uniform
# draw (and the strokes one normal) and takes its integers from it.

def _integers(uniform, low, high):
  """Uniform integers in [low, high) from uniform floats in [0, 1)."""
  return jnp.minimum(low + jnp.floor(uniform * (high - low)), high - 1).astype(jnp.int32)


def box_mask(key, height: int, width: int) -> jnp.ndarray:
  """One box hole, float32 [H, W, 1]."""
  box_h, box_w = height // 2, width // 2
  u = jax.random.uniform(key, (4,))
  top = _integers(u[0], 0, height - box_h)             # tf.random_uniform: maxval exclusive
  left = _integers(u[1], 0, width - box_w)
  delta_h = _integers(u[2], 0, (height // 8) // 2 + 1)
  delta_w = _integers(u[3], 0, (width // 8) // 2 + 1)
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  inside = ((rows >= top + delta_h) & (rows < top + box_h - delta_h) &
            (cols >= left + delta_w) & (cols < left + box_w - delta_w))
  return inside.astype(jnp.float32)[..., None]


def _stroke_vertices(key, height: int, width: int):
  """Every stroke's vertices [MAX_STROKES, MAX_SEGMENTS + 1, 2] (x, y), its number of
  segments [MAX_STROKES] and width [MAX_STROKES], and the number of strokes drawn."""
  k_uniform, k_normal = jax.random.split(key)
  draws = jax.random.uniform(k_uniform, (1 + MAX_STROKES * (6 + MAX_SEGMENTS),))
  num_strokes = _integers(draws[0], 1, MAX_STROKES + 1)
  u = draws[1:].reshape(MAX_STROKES, 6 + MAX_SEGMENTS)    # one row of draws per stroke
  num_segments = _integers(u[:, 1], MIN_NUM_VERTEX, MAX_NUM_VERTEX)
  angle_min = MEAN_ANGLE - u[:, 2] * ANGLE_RANGE
  angle_max = MEAN_ANGLE + u[:, 3] * ANGLE_RANGE
  angles = angle_min[:, None] + u[:, 6:] * (angle_max - angle_min)[:, None]
  even = jnp.arange(MAX_SEGMENTS) % 2 == 0
  angles = jnp.where(even, 2 * math.pi - angles, angles)
  radius = math.sqrt(height * height + width * width) / 8
  lengths = radius + (radius // 2) * jax.random.normal(k_normal, (MAX_STROKES, MAX_SEGMENTS))
  lengths = jnp.clip(lengths, 0, 2 * radius)
  x = _integers(u[:, 4], 0, width).astype(jnp.float32)
  y = _integers(u[:, 5], 0, height).astype(jnp.float32)
  vertices = [jnp.stack([x, y], -1)]
  for i in range(MAX_SEGMENTS):    # each vertex from the previous, clipped and truncated
    x = jnp.floor(jnp.clip(x + lengths[:, i] * jnp.cos(angles[:, i]), 0, width))
    y = jnp.floor(jnp.clip(y + lengths[:, i] * jnp.sin(angles[:, i]), 0, height))
    vertices.append(jnp.stack([x, y], -1))
  scale = min(height, width) / 256
  # int(np.random.uniform(min_width, max_width)), scaled
  stroke_width = jnp.floor(MIN_WIDTH * scale + u[:, 0] * ((MAX_WIDTH - MIN_WIDTH) * scale))
  return jnp.stack(vertices, 1), num_segments, jnp.maximum(stroke_width, 1.0), num_strokes


def draw_strokes(vertices, num_segments, stroke_width, height: int, width: int):
  """Strokes as PIL draws them, traceably: bool [H, W], the pixel centres within width/2 of a
  segment (PIL's wide line) or within width//2 + 1/4 of a vertex (the disc PIL's `ellipse`
  fills from the box x - width//2 .. x + width//2). vertices [S, K + 1, 2] (x, y), num_segments
  [S] (0: a stroke not drawn), stroke_width [S]; segment k of a stroke is drawn when
  k < its num_segments."""
  num_strokes, max_segments = vertices.shape[0], vertices.shape[1] - 1
  drawn = jnp.arange(max_segments)[None] < num_segments[:, None]                  # [S, K]
  half_width = jnp.broadcast_to(stroke_width[:, None] / 2, drawn.shape)
  disc_radius = jnp.floor(half_width) + 0.25
  segments = (vertices[:, :-1], vertices[:, 1:], half_width, disc_radius, drawn)
  segments = jax.tree.map(lambda a: a.reshape((num_strokes * max_segments,) + a.shape[2:]),
                          segments)
  px = jnp.arange(width, dtype=jnp.float32)[None, :]
  py = jnp.arange(height, dtype=jnp.float32)[:, None]

  def draw(mask, segment):   # one segment at a time: memory [H, W], not [S, K, H, W]
    (ax, ay), (bx, by), half, disc, on = segment
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = jnp.clip(((px - ax) * dx + (py - ay) * dy) / jnp.where(length2 > 0, length2, 1.0), 0, 1)
    to_line = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2
    to_vertex = jnp.minimum((px - ax) ** 2 + (py - ay) ** 2, (px - bx) ** 2 + (py - by) ** 2)
    return mask | (on & ((to_line <= half * half) | (to_vertex <= disc * disc))), None

  mask, _ = jax.lax.scan(draw, jnp.zeros((height, width), bool), segments)
  return mask


def stroke_mask(key, height: int, width: int):
  """(brush strokes float32 [H, W, 1], number of strokes drawn int32 [])."""
  vertices, num_segments, stroke_width, num_strokes = _stroke_vertices(key, height, width)
  num_segments = jnp.where(jnp.arange(MAX_STROKES) < num_strokes, num_segments, 0)
  mask = draw_strokes(vertices, num_segments, stroke_width, height, width)
  return mask.astype(jnp.float32)[..., None], num_strokes


def free_form_mask(key, height: int, width: int) -> jnp.ndarray:
  """DeepFill v2's training mask: a box OR brush strokes, float32 [H, W, 1]."""
  k_box, k_strokes = jax.random.split(key)
  strokes, _ = stroke_mask(k_strokes, height, width)
  return jnp.maximum(box_mask(k_box, height, width), strokes)


_GENERATORS = {'free_form': free_form_mask, 'box': box_mask}


def make_masks(kind: str, key, batch_size: int, height: int, width: int) -> jnp.ndarray:
  """`batch_size` independent masks of `kind` (one of MASK_KINDS), float32 [B, H, W, 1].
  `kind` and the sizes are static (jit with static_argnums=(0, 2, 3, 4))."""
  if kind not in _GENERATORS:
    raise ValueError(f'unknown mask kind {kind!r}; expected one of {", ".join(MASK_KINDS)}')
  return _batch_of_masks(kind, key, batch_size, height, width)


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4))
def _batch_of_masks(kind, key, batch_size, height, width):
  """Compiled even when called outside jit (op by op it is slower than compiling)."""
  generate = _GENERATORS[kind]
  keys = jax.random.split(key, batch_size)
  return jax.vmap(lambda k: generate(k, height, width))(keys)


def read_mask_file(path: str, height: Optional[int] = None,
                   width: Optional[int] = None) -> np.ndarray:
  """A mask from a grey or colour image file: hole (1.0) where the grey value is above 127.5
  (white = hole, the reference's convention), float32 [H, W, 1]. `height` and `width`, when
  given, are the size the file must have."""
  from PIL import Image
  try:
    with Image.open(path) as image:
      image.load()
      if image.mode.startswith('I;16'):      # 16-bit grey: threshold at half its range
        grey = np.asarray(image, np.float32) / 257.0
      else:
        grey = np.asarray(image.convert('L'), np.float32)
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f'cannot read the mask file {path} as an image ({type(e).__name__}: '
                    f'{e}); give a grey or colour image file, white where the holes are') from None
  h, w = grey.shape
  if (height is not None and h != height) or (width is not None and w != width):
    raise DataError(f'the mask file {path} is {h}x{w} pixels but the images are '
                    f'{height or h}x{width or w}; give a mask of the images\' size')
  return (grey > 127.5).astype(np.float32)[..., None]
