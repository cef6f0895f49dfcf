"""The 'translation' evaluator: image-to-image translation on held-out images
(`data.eval_split`, the first `eval.max_real_samples` of each domain, centre-cropped).

Built from the trainer's functions 'translate_a_to_b' and, for CycleGAN, 'translate_b_to_a'
((state, images [N, H, W, C] in [-1, 1]) -> images of the other domain). It reports:

  unpaired (CycleGAN)
    cycle_error_a, cycle_error_b   mean |G_ba(G_ab(a)) - a| and |G_ab(G_ba(b)) - b|, on
                                   intensities in [0, 1] (0 is perfect reconstruction)
    with digits (data with 10 labels, scored by the project's digit network,
    jaxgan/metrics/digits.py, on the centre 28x28 of padded digits):
    class_kept_b_to_a              the network's accuracy on G_ba(b) against b's labels: does
                                   translating into the plain-digit domain keep the digit?
    class_kept_a_cycle             its accuracy on G_ba(G_ab(a)): the class survived the trip
                                   through domain B
  paired (pix2pix)
    l1, psnr, ssim                 G(a) against its target b: mean absolute error of [0, 1]
                                   intensities, PSNR in dB and SSIM (scikit-image's
                                   skimage.metrics, data range 1, averaged over images)
  fid_a_to_b (and fid_b_to_a)      with eval.inception_weights: FID of the translations
                                   against the held-out images of the target domain

Reference points (`reference_points()`): 'untranslated', the same scores of the input itself
(class_kept_*: the network on b and on a unchanged; l1/psnr/ssim/fid: copying the input, one
channel repeated to the target's three) -- the baseline a translation has to beat.
"""
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import int_field, require
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS

_PER_CALL = 50
DIGIT_TRANSLATION_DATASETS = ('offline_inverted_digits', 'offline_thick_digits')


def _check_config(config) -> None:
  int_field(config, 'eval.max_real_samples', 2)
  require(config.eval.every_steps == 0 or bool(config.data.eval_split),
          'the translation evaluator needs held-out images: set data.eval_split (e.g. test), '
          'or turn evaluation off with --config.eval.every_steps=0')


def to_unit(images: np.ndarray) -> np.ndarray:
  return np.clip((np.asarray(images, np.float64) + 1.0) / 2.0, 0.0, 1.0)


def ssim_window(height: int, width: int) -> int:
  """SSIM's window side for images of that size: scikit-image's 7, or the largest odd side
  that fits a smaller image."""
  win = min(7, height, width)
  return win - (1 - win % 2)


def match_channels(images: np.ndarray, channels: int) -> np.ndarray:
  return np.repeat(images, channels, -1) if images.shape[-1] != channels else images


def paired_scores(output: np.ndarray, target: np.ndarray) -> Dict[str, float]:
  """L1, PSNR (dB) and SSIM of `output` against `target`, both in [-1, 1] NHWC; averaged
  over images, on intensities in [0, 1]."""
  from skimage.metrics import peak_signal_noise_ratio, structural_similarity
  x, y = to_unit(match_channels(output, target.shape[-1])), to_unit(target)
  psnr = [peak_signal_noise_ratio(t, o, data_range=1.0) for o, t in zip(x, y)]
  win = ssim_window(x.shape[1], x.shape[2])
  ssim = [structural_similarity(t, o, data_range=1.0, channel_axis=-1, win_size=win)
          for o, t in zip(x, y)]
  return {'l1': float(np.mean(np.abs(x - y))), 'psnr': float(np.mean(np.minimum(psnr, 100.0))),
          'ssim': float(np.mean(ssim))}


def _digit_features(config):
  from jaxgan.data.images import data_dir_of
  from jaxgan.metrics.digits import load_digit_classifier
  from jaxgan.metrics.evaluator import DigitFeatures
  padded = config.data.get('resize', 'resize') == 'pad'
  return DigitFeatures(load_digit_classifier(data_dir_of(config.data)), 1, padded)


@EVALUATORS.register('translation')
class Translation:

  validate_config = staticmethod(_check_config)

  def __init__(self, config, source, functions, mesh):
    _check_config(config)
    if 'translate_a_to_b' not in functions:
      raise ConfigError(f'eval.metrics names translation, and trainer {config.trainer!r} has no '
                        'translate_a_to_b function (only image-to-image trainers do)')
    info = source.info
    self.paired = bool(getattr(info, 'paired', False))
    self.mesh = mesh
    replicated = parallel.replicated(mesh)
    self.forward = jax.jit(functions['translate_a_to_b'], out_shardings=replicated)
    self.backward = (jax.jit(functions['translate_b_to_a'], out_shardings=replicated)
                     if 'translate_b_to_a' in functions else None)
    arrays = source.eval_arrays(config.eval.max_real_samples)
    self.a, self.b = np.asarray(arrays['a']), np.asarray(arrays['b'])
    self.label_a, self.label_b = np.asarray(arrays['label_a']), np.asarray(arrays['label_b'])
    choice = config.eval.get('feature_net', 'auto')
    wants_digits = choice == 'digits' or (choice == 'auto' and source.name in DIGIT_TRANSLATION_DATASETS)
    self.digits = None
    if wants_digits and not self.paired and self.backward is not None:
      shape = tuple(info.image_shape)
      if shape[-1] != 1 or min(shape[:2]) < 28 or info.num_classes != 10:
        raise ConfigError(f'the class-kept scores need one-channel digits of 28x28 or more with '
                          f'10 labels; {source.name} gives {shape} with {info.num_classes} classes')
      self.digits = _digit_features(config)
      self._digit_logits = jax.jit(lambda x: self.digits.apply(x)[1][:, 0])
    self.inception = None
    path = config.eval.get('inception_weights', '')
    if path:
      import os
      if not os.path.isfile(os.path.expanduser(path)):
        raise ConfigError(f'eval.inception_weights={path!r} does not exist')
      from jaxgan.metrics.inception import InceptionFeatures
      self.inception = InceptionFeatures.from_file(os.path.expanduser(path))
      self._inception_features = jax.jit(lambda x: self.inception.apply(x)[0])
    self._references = None

  # -- helpers ----------------------------------------------------------------------------
  def _chunked(self, fn, images, *args):
    return parallel.map_in_chunks(lambda x: fn(*args, x), [images], self.mesh, _PER_CALL)

  def _accuracy(self, images, labels) -> float:
    logits = self._chunked(lambda x: self._digit_logits(x), images)
    return float(np.mean(logits.argmax(-1) == labels))

  def _fid(self, images, real) -> float:
    from jaxgan.metrics import scores
    f = lambda x: self._inception_features(jnp.repeat(x, 3, -1) if x.shape[-1] == 1 else x)  # noqa: E731
    return scores.frechet_distance_of(self._chunked(f, images), self._chunked(f, real))

  # -- the evaluator ----------------------------------------------------------------------
  def __call__(self, state, step=None) -> Dict[str, float]:
    del step
    results = {}
    fake_b = self._chunked(self.forward, self.a, state)
    if self.paired:
      results.update(paired_scores(fake_b, self.b))
    if self.backward is not None:
      fake_a = self._chunked(self.backward, self.b, state)
      rec_a = self._chunked(self.backward, fake_b, state)
      rec_b = self._chunked(self.forward, fake_a, state)
      results['cycle_error_a'] = float(np.mean(np.abs(to_unit(rec_a) - to_unit(self.a))))
      results['cycle_error_b'] = float(np.mean(np.abs(to_unit(rec_b) - to_unit(self.b))))
      if self.digits is not None:
        results['class_kept_b_to_a'] = self._accuracy(fake_a, self.label_b)
        results['class_kept_a_cycle'] = self._accuracy(rec_a, self.label_a)
      if self.inception is not None:
        results['fid_b_to_a'] = self._fid(fake_a, self.a)
    if self.inception is not None:
      results['fid_a_to_b'] = self._fid(fake_b, self.b)
    return results

  def describe(self) -> Dict[str, object]:
    info = {'translation_examples_a': len(self.a), 'translation_examples_b': len(self.b)}
    if self.digits is not None:
      info['digit_classifier_accuracy'] = self.digits.classifier.test_accuracy
    return info

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    """{'untranslated': the scores of the input passed through unchanged}."""
    if self._references is None:
      untranslated = {}
      if self.paired:
        untranslated.update(paired_scores(self.a, self.b))
      if self.digits is not None:
        untranslated['class_kept_b_to_a'] = self._accuracy(self.b, self.label_b)
        untranslated['class_kept_a_cycle'] = self._accuracy(self.a, self.label_a)
      if self.inception is not None:
        untranslated['fid_a_to_b'] = self._fid(self.a, self.b)
        if self.backward is not None:
          untranslated['fid_b_to_a'] = self._fid(self.b, self.a)
      self._references = {'untranslated': untranslated}
    return self._references
