"""The 'sample_quality' evaluator: generated samples against held-out real ones.

`SampleQuality(config, source, functions, mesh)` is `evaluator(state, step) -> {name: float}`;
it calls only `functions['sample']` (state, key, n) -> images. It draws `config.eval.num_samples` samples from fixed noise (the same at every evaluation and
on resume), maps them and the held-out split (`data.eval_split`) through a feature network,
and scores them:

  digits (MNIST-like data; the project's own classifier, jaxgan/metrics/digits.py):
    fd_digits, kid, kid_std, precision, recall, density, coverage, is_digits, class_kl,
    classes_covered
    and, for 3-channel digits (Stacked-MNIST): stacked_modes, stacked_kl, stacked_num_samples
  inception (natural images; weights from config.eval.inception_weights):
    fid, kid, kid_std, precision, recall, density, coverage, inception_score (with an fc layer)

Reference points make the numbers readable: the same scores for real train images (the floor:
what a generator that reproduces the data distribution would get with these sample counts),
blurred real images and Gaussian noise. They are computed once and returned, prefixed
`floor/`, `blur/`, `noise/`, with the first evaluation of a process.
"""
import math
import os
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import int_field, require
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS, scores

# Datasets whose images are MNIST digits (28x28; 3 channels = Stacked-MNIST).
DIGIT_DATASETS = ('offline_mnist', 'mnist', 'stacked_mnist', 'offline_stacked_mnist')
# Fixed randomness of evaluation, apart from the training streams of train.py.
_EVAL_STREAM = 0xE7A1
_BLUR_SIGMA = 1.0        # pixels; the "blurred real" reference
_PR_NEIGHBOURS = 3       # k of Kynkaanniemi et al.
_DC_NEIGHBOURS = 5       # k of Naeem et al.
_KID_SUBSETS, _KID_SUBSET_SIZE = 100, 1000


class DigitFeatures:
  """The digit classifier applied per channel: 1 channel = digits, 3 = Stacked-MNIST.

  The classifier reads 28x28 digits; images of another size are brought back to 28x28 the
  way they left it: the centre crop of zero-padded digits (`padded`, data.resize=pad), else a
  resize (antialiased), applied to real and generated images alike."""

  name = 'digits'
  fd_name = 'fd_digits'

  def __init__(self, classifier, channels: int, padded: bool = False):
    self.classifier = classifier
    self.channels = channels
    self.padded = padded
    self.feature_dim = classifier.feature_dim * channels

  def to_digit_size(self, images):
    n, h, w, c = images.shape
    if (h, w) == (28, 28):
      return images
    if self.padded:
      top, left = (h - 28) // 2, (w - 28) // 2
      return images[:, top:top + 28, left:left + 28]
    return jax.image.resize(images, (n, 28, 28, c), 'linear', antialias=True)

  def apply(self, images):
    """[N, H, W, C] in [-1, 1] -> (features [N, C*d], logits [N, C, 10])."""
    images = self.to_digit_size(images)
    n, h, w, c = images.shape
    per_channel = jnp.transpose(images, (0, 3, 1, 2)).reshape(n * c, h, w, 1)
    features, logits = self.classifier.apply(per_channel)
    return features.reshape(n, -1), logits.reshape(n, c, -1)


def _is_digit_like(dataset) -> bool:
  shape = tuple(dataset.info.image_shape)
  return (dataset.name in DIGIT_DATASETS and shape[0] == shape[1] and shape[0] >= 28
          and shape[2:] in ((1,), (3,)))


def make_feature_net(config, dataset):
  """The feature network `config.eval.feature_net` asks for, or a ConfigError saying why not."""
  choice = config.eval.feature_net
  if choice not in ('auto', 'digits', 'inception'):
    raise ConfigError(f"eval.feature_net must be one of auto, digits, inception; got {choice!r}")
  shape = tuple(dataset.info.image_shape)
  if len(shape) != 3:
    raise ConfigError(f'eval.every_steps scores images, and {dataset.name!r} gives samples of shape '
                      f'{shape}; set --config.eval.every_steps=0')
  h, w, c = shape
  if choice == 'digits' or (choice == 'auto' and _is_digit_like(dataset)):
    if h != w or h < 28 or c not in (1, 3):
      raise ConfigError(f'eval.feature_net=digits needs square images of 28x28 or more with 1 '
                        f'channel (digits) or 3 (Stacked-MNIST); {dataset.name} gives {h}x{w}x{c}')
    from jaxgan.data.images import data_dir_of
    from jaxgan.metrics.digits import load_digit_classifier
    padded = config.data.get('resize', 'resize') == 'pad'
    return DigitFeatures(load_digit_classifier(data_dir_of(config.data)), c, padded)
  path = config.eval.inception_weights
  if not path:
    raise ConfigError(
        f'dataset {dataset.name!r} is not MNIST digits, so evaluation needs InceptionV3 weights: '
        'convert pytorch-fid\'s pt_inception .pth with `python -m jaxgan.metrics.inception '
        'convert IN.pth OUT.npz` and pass --config.eval.inception_weights=OUT.npz '
        '(or turn evaluation off with --config.eval.every_steps=0)')
  if not os.path.isfile(os.path.expanduser(path)):
    raise ConfigError(f'eval.inception_weights={path!r} does not exist')
  from jaxgan.metrics.inception import InceptionFeatures
  try:
    return InceptionFeatures.from_file(os.path.expanduser(path))
  except ValueError as e:
    raise ConfigError(str(e)) from None


def _check_eval_config(config) -> None:
  for name, minimum in (('num_samples', 2), ('max_real_samples', 2), ('stacked_num_samples', 1)):
    int_field(config, f'eval.{name}', minimum)
  require(config.eval.every_steps == 0 or bool(config.data.eval_split),
          'evaluation compares against held-out images: set data.eval_split (e.g. test), or '
          'turn evaluation off with --config.eval.every_steps=0')


# --------------------------------------------------------------------------------------------
# Scoring feature sets

def score(real: Dict[str, np.ndarray], fake: Dict[str, np.ndarray], net) -> Dict[str, float]:
  """Every metric of `fake` against `real`; each is a dict with 'features' and 'logits'."""
  rf, ff = real['features'], fake['features']
  results = {net.fd_name: scores.frechet_distance_of(rf, ff)}
  results['kid'], results['kid_std'] = scores.kid(rf, ff, _KID_SUBSETS, _KID_SUBSET_SIZE)
  results['precision'], results['recall'] = chunked_precision_recall(rf, ff, _PR_NEIGHBOURS)
  results['density'], results['coverage'] = chunked_density_coverage(rf, ff, _DC_NEIGHBOURS)
  logits = fake['logits']
  if net.name == 'digits':
    if logits.shape[1] == 1:
      labels = logits[:, 0].argmax(-1)
      counts = scores.class_histogram(labels, logits.shape[-1])
      results['is_digits'] = scores.inception_score(logits[:, 0])
      results['class_kl'] = scores.kl_to_uniform(counts)
      results['classes_covered'] = float(scores.modes_covered(counts))
  elif getattr(net, 'has_logits', False):
    results['inception_score'] = scores.inception_score(logits)
  return results


def _chunked(metric, real, fake, k: int):
  """A two-valued k-NN metric with equal set sizes, using every sample of the larger set.

  The larger set is cut into disjoint chunks as large as the smaller one, and the scores are
  averaged over chunks: radii and counts then always come from sets of equal size, as the
  papers assume (radii shrink and coverage grows with the sample count).
  """
  n = min(len(real), len(fake))
  fake_is_large = len(fake) >= len(real)
  large = fake if fake_is_large else real
  firsts, seconds = [], []
  for i in range(len(large) // n):
    chunk = large[i * n:(i + 1) * n]
    a, b = metric(real[:n], chunk, k) if fake_is_large else metric(chunk, fake, k)
    firsts.append(a)
    seconds.append(b)
  return float(np.mean(firsts)), float(np.mean(seconds))


def chunked_precision_recall(real, fake, k: int = _PR_NEIGHBOURS):
  return _chunked(scores.precision_recall, real, fake, k)


def chunked_density_coverage(real, fake, k: int = 5):
  return _chunked(scores.density_coverage, real, fake, k)


def stacked_scores(logits: np.ndarray) -> Dict[str, float]:
  return scores.stacked_modes(logits.argmax(-1))


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
  """Blurs NHWC float images per channel with a Gaussian of `sigma` pixels (edges reflected)."""
  from scipy.ndimage import gaussian_filter
  return gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode='reflect').astype(np.float32)


# --------------------------------------------------------------------------------------------
# The evaluator

@EVALUATORS.register('sample_quality')
class Evaluator:

  validate_config = staticmethod(_check_eval_config)

  def __init__(self, config, source, functions, mesh, feature_net=None):
    _check_eval_config(config)
    if 'sample' not in functions:
      raise ConfigError(f'eval.metrics names sample_quality, and trainer {config.trainer!r} '
                        'does not sample')
    self.config = config
    self.mesh = mesh
    self.net = feature_net or make_feature_net(config, source)
    sample = functions['sample']
    self.num_samples = config.eval.num_samples
    self.batch_size = config.train.batch_size
    self.key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _EVAL_STREAM)
    replicated = parallel.replicated(mesh)
    net, batch = self.net, self.batch_size
    # Samples are drawn in training-sized batches: with BatchNorm in batch-statistics mode the
    # generator then sees the batch size it was trained with.
    self._generate = jax.jit(lambda state, key: net.apply(sample(state, key, batch)),
                             out_shardings=replicated)
    self._features = jax.jit(net.apply, out_shardings=replicated)

    real_images = source.eval_arrays(config.eval.max_real_samples)['image']
    self.real = self.image_features(real_images)
    self.num_real = len(real_images)
    self._source = source
    self._references = None
    self._reported_references = False

  def image_features(self, images: np.ndarray, batch_size: int = 500) -> Dict[str, np.ndarray]:
    """Features and logits of host images in [-1, 1] (NHWC float), in fixed-size batches."""
    feats, logits = [], []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      valid = len(chunk)
      if valid < batch_size and len(images) > batch_size:  # one compiled shape
        chunk = np.concatenate([chunk, np.zeros((batch_size - valid,) + chunk.shape[1:], chunk.dtype)])
      f, l = parallel.fetch(self._features(jnp.asarray(chunk)))
      feats.append(f[:valid])
      logits.append(l[:valid])
    return {'features': np.concatenate(feats), 'logits': np.concatenate(logits)}

  def generated_features(self, state, num_samples: int, stream: int = 0) -> Dict[str, np.ndarray]:
    """Features of `num_samples` generated samples from the fixed evaluation noise."""
    key = jax.random.fold_in(self.key, stream)
    feats, logits = [], []
    for i in range(math.ceil(num_samples / self.batch_size)):
      f, l = parallel.fetch(self._generate(state, jax.random.fold_in(key, i)))
      feats.append(f)
      logits.append(l)
    return {'features': np.concatenate(feats)[:num_samples],
            'logits': np.concatenate(logits)[:num_samples]}

  def __call__(self, state, step: Optional[int] = None) -> Dict[str, float]:
    del step  # The same noise at every step, so curves compare like with like.
    fake = self.generated_features(state, self.num_samples)
    results = score(self.real, fake, self.net)
    if self._is_stacked():
      stacked = self.generated_features(state, self.config.eval.stacked_num_samples, stream=1)
      results.update(stacked_scores(stacked['logits']))
    if self.config.eval.reference_points and not self._reported_references:
      self._reported_references = True
      for point, values in self.reference_points().items():
        results.update({f'{point}/{name}': v for name, v in values.items()})
    return results

  def describe(self) -> Dict[str, object]:
    """What this evaluation compares (for jaxgan.evaluate's report)."""
    info = {'feature_net': self.net.name, 'num_samples': self.num_samples,
            'num_real': self.num_real}
    classifier = getattr(self.net, 'classifier', None)
    if classifier is not None:
      info['classifier_test_accuracy'] = classifier.test_accuracy
    return info

  def _is_stacked(self) -> bool:
    return self.net.name == 'digits' and self.net.channels == 3

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    """Scores of real train images (floor), Gaussian noise and blurred real images, cached."""
    if self._references is None:
      self._references = self._compute_references()
    return self._references

  def _compute_references(self) -> Dict[str, Dict[str, float]]:
    rng = np.random.default_rng(self.config.seed + _EVAL_STREAM)
    split = self.config.data.train_split
    num_train = self._source.dataset.num_records(split)
    n = min(self.num_samples, num_train)
    # A seeded random subset of the train split, read record by record (the split may be large).
    indices = np.sort(rng.choice(num_train, n, replace=False))
    train = self._source.to_unit(np.stack([self._source.dataset.record(split, i)[0]
                                           for i in indices]))
    noise = np.clip(rng.standard_normal(train.shape), -1.0, 1.0).astype(np.float32)
    blurred = gaussian_blur(train, _BLUR_SIGMA)
    references = {}
    for name, images in (('floor', train), ('blur', blurred), ('noise', noise)):
      features = self.image_features(images)
      values = score(self.real, features, self.net)
      values['num_samples'] = float(n)
      if self._is_stacked():
        values.update(stacked_scores(features['logits']))
      references[name] = values
    return references


