"""The training masks of DeepFill v2 (JiahuiYu/generative_inpainting, inpaint_ops.py) in numpy
and PIL, written to the reference's definitions, so that tests can check that the traceable
masks of jaxgan/data/masks.py have the same statistics (hole fraction, stroke count).

  random_bbox + bbox2mask  a box of half the image's height and width at a uniform position
                           (margins 0; tf.random_uniform's maxval is exclusive), shrunk on
                           each side by a uniform 0..max_delta//2, max_delta = 1/8 of the size
  brush_stroke_mask        1 to 3 strokes of 4 to 11 segments each, at zig-zag angles around
                           2*pi/5, of normal lengths around sqrt(H^2 + W^2)/8, drawn with PIL's
                           wide line and a disc at every vertex

Sizes are the reference's at 256x256, scaled: the box and its shrink are fractions of the
image, the stroke widths (12..40) are scaled by min(H, W)/256, the stroke radius is already a
fraction of the diagonal. Two departures, shared with jaxgan/data/masks.py: the vertices run
over x in [0, W] and y in [0, H] (the reference's `h, w = mask.size` swaps the two, which only
matters for non-square images), and no flip (the reference calls `mask.transpose` but drops
the result). Holes are 1.0, float32 [H, W, 1]. Randomness comes from an np.random.Generator.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

MIN_NUM_VERTEX, MAX_NUM_VERTEX = 4, 12     # randint's bounds: 4..11 segments a stroke
MEAN_ANGLE = 2 * math.pi / 5
ANGLE_RANGE = 2 * math.pi / 15
MIN_WIDTH, MAX_WIDTH = 12, 40              # at 256x256
MAX_STROKES = 3


def reference_box_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  box_h, box_w = h // 2, w // 2
  top = rng.integers(0, h - box_h)          # tf.random_uniform(minval=0, maxval=h - box_h)
  left = rng.integers(0, w - box_w)
  delta_h = rng.integers(0, (h // 8) // 2 + 1)    # np.random.randint(max_delta_h//2 + 1)
  delta_w = rng.integers(0, (w // 8) // 2 + 1)
  mask = np.zeros((h, w, 1), np.float32)
  mask[top + delta_h:top + box_h - delta_h, left + delta_w:left + box_w - delta_w] = 1.0
  return mask


def reference_stroke(rng: np.random.Generator, h: int, w: int):
  """One stroke of `brush_stroke_mask`: (its vertices [(x, y)], its width)."""
  average_radius = math.sqrt(h * h + w * w) / 8
  num_vertex = int(rng.integers(MIN_NUM_VERTEX, MAX_NUM_VERTEX))
  angle_min = MEAN_ANGLE - rng.uniform(0, ANGLE_RANGE)
  angle_max = MEAN_ANGLE + rng.uniform(0, ANGLE_RANGE)
  angles = [2 * math.pi - rng.uniform(angle_min, angle_max) if i % 2 == 0
            else rng.uniform(angle_min, angle_max) for i in range(num_vertex)]
  vertex = [(int(rng.integers(0, w)), int(rng.integers(0, h)))]
  for angle in angles:
    length = np.clip(rng.normal(loc=average_radius, scale=average_radius // 2),
                     0, 2 * average_radius)
    new_x = np.clip(vertex[-1][0] + length * math.cos(angle), 0, w)
    new_y = np.clip(vertex[-1][1] + length * math.sin(angle), 0, h)
    vertex.append((int(new_x), int(new_y)))
  scale = min(h, w) / 256
  width = max(1, int(rng.uniform(MIN_WIDTH * scale, MAX_WIDTH * scale)))
  return vertex, width


def draw_stroke(draw: ImageDraw.ImageDraw, vertex, width: int):
  """The reference's drawing: PIL's wide line through the vertices and a disc at each."""
  draw.line(vertex, fill=1, width=width)
  for x, y in vertex:
    draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=1)


def reference_stroke_mask(rng: np.random.Generator, h: int, w: int):
  """(mask, number of strokes)."""
  mask = Image.new('L', (w, h), 0)
  draw = ImageDraw.Draw(mask)
  num_strokes = int(rng.integers(1, MAX_STROKES + 1))
  for _ in range(num_strokes):
    draw_stroke(draw, *reference_stroke(rng, h, w))
  return np.asarray(mask, np.float32).reshape(h, w, 1), num_strokes


def reference_free_form_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  """The reference's training mask: the box OR the strokes."""
  box = reference_box_mask(rng, h, w)
  strokes, _ = reference_stroke_mask(rng, h, w)
  return np.maximum(box, strokes)
