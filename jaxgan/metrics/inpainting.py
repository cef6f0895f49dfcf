"""The 'inpainting' evaluator: holes filled in held-out images (`data.eval_split`, the first
`eval.max_real_samples`), with masks of kind `data.mask` drawn once from `eval.mask_seed`, so
every evaluation of every run fills the same holes.

Built from the trainer's function 'inpaint' ((state, images, masks) -> completed images, the
known pixels unchanged). Scores, on intensities in [0, 1], averaged over images:

  l1, l2, psnr, ssim   over the whole image: mean absolute error, mean squared error, PSNR in dB
                       and SSIM (scikit-image's skimage.metrics, data range 1)
  l1_hole, l2_hole,    the same inside the hole only: errors over hole pixels, PSNR from the
  psnr_hole, ssim_hole hole's mean squared error, SSIM as the mean of SSIM's map over hole pixels
  tv                   total variation of the completed image: the mean absolute difference of
                       neighbouring pixels (a blurry fill lowers it, noise raises it; compare
                       with the originals' value, the reference point 'original')
  hole_fraction        the masks' mean (the same for every point)

Reference points (`reference_points()`), scored the same way on the same holes:
  mean_fill    each hole filled with the mean colour of that image's known pixels
  biharmonic   scikit-image's `skimage.restoration.inpaint_biharmonic` (smooth interpolation)
  biharmonic_in_graph  jaxgan's compiled biharmonic solve (`biharmonic_cg_fill`), which the
               generator starts from with `model.prefill=biharmonic`: the untrained start
  original     the ground truth itself (only `tv` is informative)
"""
from typing import Dict

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import int_field, require
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS
from jaxgan.metrics.translation import ssim_window, to_unit

_PER_CALL = 50


def _check_config(config) -> None:
  int_field(config, 'eval.max_real_samples', 2)
  int_field(config, 'eval.mask_seed', 0)
  require(config.eval.every_steps == 0 or bool(config.data.eval_split),
          'the inpainting evaluator needs held-out images: set data.eval_split (e.g. test), '
          'or turn evaluation off with --config.eval.every_steps=0')


def _ssim_maps(output: np.ndarray, target: np.ndarray) -> np.ndarray:
  """SSIM maps [N, H, W] (channels averaged) of unit-intensity images [N, H, W, C]."""
  from skimage.metrics import structural_similarity
  win = ssim_window(output.shape[1], output.shape[2])
  maps = []
  for o, t in zip(output, target):
    _, full = structural_similarity(t, o, data_range=1.0, channel_axis=-1, win_size=win,
                                    full=True)
    maps.append(full.mean(-1))
  return np.stack(maps)


def _psnr(mse: np.ndarray) -> np.ndarray:
  return np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10)), 100.0)


def inpainting_scores(output, target, masks) -> Dict[str, float]:
  """The scores of the module doc for completed images `output` against `target`, both
  [N, H, W, C] in [-1, 1], with holes `masks` [N, H, W, 1] (1 = hole)."""
  x, y = to_unit(output), to_unit(target)
  hole = np.asarray(masks, np.float64)[..., 0] > 0.5
  per_pixel_abs = np.abs(x - y).mean(-1)           # [N, H, W], channels averaged
  per_pixel_sq = ((x - y) ** 2).mean(-1)
  hole_pixels = np.maximum(hole.sum((1, 2)), 1)
  ssim_maps = _ssim_maps(x, y)
  l2 = per_pixel_sq.mean((1, 2))
  l2_hole = (per_pixel_sq * hole).sum((1, 2)) / hole_pixels
  tv = (np.abs(np.diff(x, axis=1)).mean((1, 2, 3)) + np.abs(np.diff(x, axis=2)).mean((1, 2, 3)))
  return {
      'l1': float(per_pixel_abs.mean()), 'l2': float(l2.mean()),
      'psnr': float(_psnr(l2).mean()), 'ssim': float(ssim_maps.mean()),
      'l1_hole': float(((per_pixel_abs * hole).sum((1, 2)) / hole_pixels).mean()),
      'l2_hole': float(l2_hole.mean()), 'psnr_hole': float(_psnr(l2_hole).mean()),
      'ssim_hole': float(((ssim_maps * hole).sum((1, 2)) / hole_pixels).mean()),
      'tv': float(tv.mean()), 'hole_fraction': float(hole.mean())}


def mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """Each hole filled with the mean colour of its image's known pixels."""
  known = 1.0 - masks
  mean = (images * known).sum((1, 2), keepdims=True) / np.maximum(known.sum((1, 2), keepdims=True), 1)
  return images * known + mean * masks


def biharmonic_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """scikit-image's biharmonic inpainting of each image (on [0, 1] intensities)."""
  from skimage.restoration import inpaint_biharmonic
  out = np.empty_like(images)
  for i, (image, mask) in enumerate(zip(images, masks)):
    unit = to_unit(image)
    filled = inpaint_biharmonic(unit, mask[..., 0] > 0.5, channel_axis=-1)
    out[i] = (filled * 2.0 - 1.0) * mask + image * (1.0 - mask)
  return out


def in_graph_biharmonic_fill(images: np.ndarray, masks: np.ndarray, mesh) -> np.ndarray:
  """The generator's compiled biharmonic prefill (architectures/inpainting.py) on its own."""
  from jaxgan.architectures.inpainting import biharmonic_cg_fill
  fill = jax.jit(lambda x, m: biharmonic_cg_fill(x * (1.0 - m), m),
                 out_shardings=parallel.replicated(mesh))
  return parallel.map_in_chunks(fill, [images, masks], mesh, _PER_CALL)


def evaluation_masks(config, num: int, height: int, width: int) -> np.ndarray:
  """The fixed held-out masks: `data.mask` drawn from eval.mask_seed, one per image."""
  from jaxgan.data import masks as masks_lib
  key = jax.random.PRNGKey(int(config.eval.mask_seed))   # make_masks compiles itself
  return np.asarray(masks_lib.make_masks(config.data.mask, key, num, height, width), np.float32)


@EVALUATORS.register('inpainting')
class Inpainting:

  validate_config = staticmethod(_check_config)

  def __init__(self, config, source, functions, mesh):
    _check_config(config)
    if 'inpaint' not in functions:
      raise ConfigError(f'eval.metrics names inpainting, and trainer {config.trainer!r} has no '
                        'inpaint function (only the inpainting trainer does)')
    self.mesh = mesh
    self.inpaint = jax.jit(functions['inpaint'], out_shardings=parallel.replicated(mesh))
    self.images = np.asarray(source.eval_arrays(config.eval.max_real_samples)['image'],
                             np.float32)
    n, h, w, _ = self.images.shape
    self.masks = evaluation_masks(config, n, h, w)
    self._references = None

  def complete(self, state) -> np.ndarray:
    return parallel.map_in_chunks(lambda x, m: self.inpaint(state, x, m),
                                  [self.images, self.masks], self.mesh, _PER_CALL)

  def __call__(self, state, step=None) -> Dict[str, float]:
    del step
    return inpainting_scores(self.complete(state), self.images, self.masks)

  def describe(self) -> Dict[str, object]:
    return {'inpainting_examples': len(self.images),
            'inpainting_hole_fraction': float(self.masks.mean())}

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    if self._references is None:
      self._references = {
          'mean_fill': inpainting_scores(mean_fill(self.images, self.masks), self.images, self.masks),
          'biharmonic': inpainting_scores(biharmonic_fill(self.images, self.masks), self.images,
                                          self.masks),
          'biharmonic_in_graph': inpainting_scores(
              in_graph_biharmonic_fill(self.images, self.masks, self.mesh), self.images,
              self.masks),
          'original': {'tv': inpainting_scores(self.images, self.images, self.masks)['tv']}}
    return self._references
