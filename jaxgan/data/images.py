"""Image datasets through TFDS, read without TensorFlow via `tfds.data_source`, and the
'images' data source built on them.

`load_dataset(data_config)` returns an `ImageDataset`: its shape and classes, random access to
preprocessed train records (uint8 HxWxC plus an int label), and whole splits as numpy arrays.
The project's own offline datasets are prepared automatically on first use; standard TFDS
datasets (mnist, cifar10, celeb_a, ...) are read when prepared, or downloaded when the config
says `data.download=True`. `ImagesSource` serves them to the loop (jaxgan/data/__init__.py).
"""
import dataclasses
import errno
import glob
import os
import shutil
from typing import Optional, Tuple

import numpy as np

from jaxgan.data import SOURCES
from jaxgan.errors import DataError, ResourceError, disk_fault

# Builders the project defines and can always prepare offline, by TFDS name.
def _project_builders():
  from jaxgan.data import offline_mnist, offline_pictures, offline_translation, stacked_mnist
  return {'offline_mnist': offline_mnist.OfflineMnist,
          'offline_stacked_mnist': stacked_mnist.OfflineStackedMnist,
          **offline_translation.BUILDERS, **offline_pictures.BUILDERS}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  image_shape: Tuple[int, int, int]   # after preprocessing: (H, W, C)
  num_classes: int                    # 0 when the dataset has no labels
  num_train: int


def _tfds():
  import tensorflow_datasets as tfds
  return tfds


def data_dir_of(data_config) -> str:
  if data_config.data_dir:
    return os.path.expanduser(data_config.data_dir)
  return os.path.expanduser(os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets'))


def _prepare_failed(name: str, data_dir: str, builder, error: Exception, before) -> Exception:
  """The one-line error for a failed `download_and_prepare`, after removing any half-built
  copy it left. TFDS builds into `NAME/incomplete.*` and renames that to `NAME/VERSION` only
  when complete (removing it on an error), so `is_prepared()` never sees a partial dataset;
  the folders this attempt left behind (a kill can leave one) are removed all the same."""
  for path in set(glob.glob(os.path.join(data_dir, name, 'incomplete.*'))) - before:
    shutil.rmtree(path, ignore_errors=True)
  fault = disk_fault(error)
  if fault is not None and fault[0] in (errno.ENOSPC, errno.EDQUOT):
    size = int(getattr(builder.info, 'dataset_size', 0) or 0) if builder is not None else 0
    free = shutil.disk_usage(data_dir).free if os.path.isdir(data_dir) else 0
    need = (f'it takes about {size / 2**20:,.1f} MB, {free / 2**20:,.1f} MB are free there' if size
            else f'it needs more than the {free / 2**20:,.1f} MB free there')
    return ResourceError(
        f'no space left on device preparing dataset {name!r} in {data_dir}: {need} (the partial '
        'copy was removed); free space there or set --config.data.data_dir to a folder on '
        'another disk, then re-run')
  if isinstance(error, OSError) or fault is not None:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return DataError(f'cannot prepare {name} in {data_dir}: {reason.splitlines()[0][:200]}; '
                     'set --config.data.data_dir to a writable folder')
  return DataError(f'downloading and preparing {name!r} failed: {type(error).__name__}: {error}')


def _prepare(name: str, data_dir: str, download: bool):
  """Returns a prepared TFDS builder for `name`, preparing it when that needs no network or is allowed."""
  tfds = _tfds()
  project = _project_builders()
  if name in project:
    builder = project[name](data_dir=data_dir, file_format='array_record')
    if not builder.is_prepared():
      before = set(glob.glob(os.path.join(data_dir, name, 'incomplete.*')))
      try:
        os.makedirs(data_dir, exist_ok=True)
        builder.download_and_prepare()
      except Exception as e:  # OSError, or array_record's RuntimeError naming the OS error
        error = _prepare_failed(name, data_dir, builder, e, before)
        if isinstance(error, ResourceError) or isinstance(e, OSError) or disk_fault(e):
          raise error from None
        raise
    return builder
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # TFDS raises several kinds for unknown names.
    raise DataError(f'unknown dataset {name!r}: not a TFDS dataset nor one of '
                    f'{", ".join(sorted(project))} ({type(e).__name__})') from None
  if builder.is_prepared():
    return builder
  if not download:
    raise DataError(
        f'dataset {name!r} is not prepared in {data_dir}; on a machine with network run '
        f'`tfds build {name} --file_format=array_record --data_dir={data_dir}` or pass '
        '--config.data.download=True, or train offline with --config.data.name=offline_mnist')
  before = set(glob.glob(os.path.join(data_dir, name, 'incomplete.*')))
  builder = None
  try:
    builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
    builder.download_and_prepare()
  except Exception as e:
    raise _prepare_failed(name, data_dir, builder, e, before) from None
  return builder


class ImageDataset:
  """One dataset: metadata, random access to preprocessed train records, whole splits."""

  def __init__(self, data_config):
    self.config = data_config
    self.name = data_config.name
    self.data_dir = data_dir_of(data_config)
    self.builder = _prepare(self.name, self.data_dir, data_config.download)
    features = self.builder.info.features
    if data_config.image_key not in features:
      raise DataError(f'dataset {self.name!r} has no feature {data_config.image_key!r} '
                      f'(data.image_key); it has: {", ".join(features.keys())}')
    shape = tuple(features[data_config.image_key].shape)
    if len(shape) != 3 or shape[-1] not in (1, 3):
      raise DataError(f'dataset {self.name!r} feature {data_config.image_key!r} has shape {shape}, '
                      'not an image (H, W, 1 or 3)')
    label_key = data_config.label_key
    if label_key and label_key not in features:
      raise DataError(f'dataset {self.name!r} has no feature {label_key!r} (data.label_key); '
                      'set --config.data.label_key= for unlabelled data')
    self.label_key = label_key
    self.num_classes = int(getattr(features[label_key], 'num_classes', 0) or 0) if label_key else 0
    size = data_config.image_size
    if size and (size > min(shape[0], shape[1]) * 4):
      raise DataError(f'data.image_size={size} is more than 4x the dataset images ({shape[0]}x{shape[1]})')
    self.pad = data_config.get('resize', 'resize') == 'pad'
    if self.pad and size and size < max(shape[0], shape[1]):
      raise DataError(f'data.resize=pad needs data.image_size >= the dataset images '
                      f'({shape[0]}x{shape[1]}), got {size}; use data.resize=resize to shrink')
    self.stored_shape = shape
    self.image_shape = (size, size, shape[2]) if size else shape
    for split in (data_config.train_split, data_config.eval_split):
      if split and split not in self.builder.info.splits:
        raise DataError(f'dataset {self.name!r} has no split {split!r}; it has: '
                        f'{", ".join(self.builder.info.splits.keys())}')
    self._sources = {}

  @property
  def info(self) -> DatasetInfo:
    return DatasetInfo(self.name, self.image_shape, self.num_classes,
                       self.num_records(self.config.train_split))

  def source(self, split: str):
    if split not in self._sources:
      tfds = _tfds()
      try:
        self._sources[split] = tfds.data_source(
            self.name, split=split, data_dir=self.data_dir, download=False)
      except Exception as e:
        raise DataError(
            f'cannot read {self.name!r} split {split!r} without TensorFlow ({type(e).__name__}: '
            f'{str(e).splitlines()[0] if str(e) else ""}); rebuild it with '
            f'`tfds build {self.name} --file_format=array_record`') from None
    return self._sources[split]

  def num_records(self, split: str) -> int:
    return int(self.builder.info.splits[split].num_examples)

  def preprocess(self, image: np.ndarray) -> np.ndarray:
    """Center-crops to a square and resizes to `image_shape`, or (data.resize=pad) pads it
    there with zeros, centred (uint8 in, uint8 out)."""
    image = np.asarray(image)
    if image.shape == self.image_shape:
      return image
    if self.pad:
      h, w = image.shape[:2]
      top, left = (self.image_shape[0] - h) // 2, (self.image_shape[1] - w) // 2
      out = np.zeros(self.image_shape, np.uint8)
      out[top:top + h, left:left + w] = image
      return out
    from PIL import Image
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top:top + side, left:left + side]
    pil = Image.fromarray(crop[..., 0] if crop.shape[-1] == 1 else crop)
    pil = pil.resize(self.image_shape[:2][::-1], Image.BICUBIC if side < self.image_shape[0] else Image.LANCZOS)
    out = np.asarray(pil, dtype=np.uint8)
    return out.reshape(self.image_shape)

  def record(self, split: str, index: int) -> Tuple[np.ndarray, int]:
    example = self.source(split)[int(index)]
    label = int(example[self.label_key]) if self.label_key else 0
    return self.preprocess(example[self.config.image_key]), label

  def arrays(self, split: str, limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The first `limit` records of a split (all by default) as (uint8 NHWC, int32 labels)."""
    source = self.source(split)
    n = len(source) if limit is None else min(limit, len(source))
    images = np.empty((n,) + self.image_shape, np.uint8)
    labels = np.zeros((n,), np.int32)
    chunk = 1024
    for start in range(0, n, chunk):
      examples = source.__getitems__(list(range(start, min(n, start + chunk))))
      for j, example in enumerate(examples):
        images[start + j] = self.preprocess(example[self.config.image_key])
        if self.label_key:
          labels[start + j] = int(example[self.label_key])
    return images, labels

  def nbytes(self, split: str) -> int:
    return self.num_records(split) * int(np.prod(self.image_shape))


def load_dataset(data_config) -> ImageDataset:
  return ImageDataset(data_config)


@SOURCES.register('images')
class ImagesSource:
  """A TFDS image dataset as the loop sees it: batches of {'image', 'label'}, images in [-1, 1]."""

  def __init__(self, config):
    self.config = config
    self.dataset = ImageDataset(config.data)
    self.name = self.dataset.name
    self.info = self.dataset.info
    self.pixel_max = float(config.data.pixel_max)

  def example_batch(self, batches_per_step: int, batch_size: Optional[int] = None):
    import jax.numpy as jnp
    shape = (batches_per_step, batch_size or self.config.train.batch_size)
    return {'image': jnp.zeros(shape + tuple(self.info.image_shape), jnp.float32),
            'label': jnp.zeros(shape, jnp.int32)}

  def make_batches(self, mesh):
    from jaxgan.data import pipeline
    return pipeline.image_batches(self.config, self.dataset, mesh, self.pixel_max)

  def to_unit(self, images_uint8: np.ndarray) -> np.ndarray:
    """Stored pixels -> float32 in [-1, 1], as the compiled step sees them (pipeline.to_model_input)."""
    return images_uint8.astype(np.float32) / (self.pixel_max / 2) - 1.0

  def _model_input(self, split: str, limit: Optional[int]):
    images, labels = self.dataset.arrays(split, limit)
    return {'image': self.to_unit(images), 'label': labels}

  def eval_arrays(self, limit: Optional[int] = None):
    """The first `limit` held-out records: {'image': float32 NHWC in [-1, 1], 'label': int32}."""
    return self._model_input(self.config.data.eval_split, limit)

  def preview_batch(self, n: int):
    return self._model_input(self.config.data.eval_split or self.config.data.train_split, n)
