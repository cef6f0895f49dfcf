"""The 'image_to_image' data source: two domains of images, paired or unpaired, for CycleGAN
and pix2pix (jaxgan/trainers/image_to_image.py).

Where the images come from:
  a TFDS dataset by `data.name`, read without TensorFlow (`tfds.data_source`):
    unpaired  cycle_gan's layout: splits `<train_split>A`, `<train_split>B`, `<eval_split>A`,
              `<eval_split>B` with the image in feature `data.image_key` ('cycle_gan/horse2zebra'
              and the other cycle_gan configs; offline_inverted_digits, offline_thick_digits)
    paired    splits `<train_split>` and `<eval_split>` with features 'a' (input) and 'b'
              (target) (offline_edges2textures)
  a folder, `data.folder` (then data.name only names the run's data), in the reference's
  layouts: FOLDER/trainA, trainB, testA, testB of image files (unpaired), or FOLDER/train and
  FOLDER/test of side-by-side pairs, A left and B right (paired; pix2pix's aligned datasets).

Preprocessing follows the reference's `resize_and_crop`: every image is resized on the host
to `data.image_size` square (bicubic; 0 keeps the stored size; `data.resize=pad` zero-pads
instead, as the digits go from 28 to 32), and inside the compiled step each training image is
cropped at random to `data.crop_size` (0: no crop) and flipped left-right with probability
1/2 (`data.flip`); a pair gets the same crop and flip, unpaired domains each their own.
Held-out images are centre-cropped. Batches: {'a': [k, B, H, W, Ca], 'b': [k, B, H, W, Cb]}
in [-1, 1]; an unpaired domain is shuffled on its own, epoch by epoch (the domains may differ
in size). The train splits live on the device (uint8).
"""
import dataclasses
import glob
import os
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.data import SOURCES
from jaxgan.data.pipeline import batch_indices, check_enough_records
from jaxgan.errors import DataError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
_AUGMENT_STREAM = 0xC20B


@dataclasses.dataclass(frozen=True)
class TranslationInfo:
  name: str
  image_shape: Tuple[int, int, int]    # a domain-A image as the nets see it (after cropping)
  target_shape: Tuple[int, int, int]   # a domain-B image
  num_classes: int                     # labels of the images (digits: 10); 0 when none
  num_train: int                       # domain-A training images
  num_train_b: int
  paired: bool


def _resize(image: np.ndarray, size: int, pad: bool) -> np.ndarray:
  """uint8 [h, w, c] -> [size, size, c]: bicubic resize (the reference's transforms.Resize
  of both sides, no aspect kept), or a centred zero border (`pad`)."""
  if not size or image.shape[:2] == (size, size):
    return image
  h, w, c = image.shape
  if pad:
    if size < max(h, w):
      raise DataError(f'data.resize=pad needs data.image_size >= the images ({h}x{w}), got {size}')
    out = np.zeros((size, size, c), np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = image
    return out
  from PIL import Image
  pil = Image.fromarray(image[..., 0] if c == 1 else image)
  return np.asarray(pil.resize((size, size), Image.BICUBIC), np.uint8).reshape(size, size, c)


def _as_image(value) -> np.ndarray:
  image = np.asarray(value)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise DataError(f'an image of shape {image.shape} is not H x W x 1 or 3')
  return image[..., :3].astype(np.uint8) if image.shape[-1] == 4 else image.astype(np.uint8)


def center_crop(images: np.ndarray, size: int) -> np.ndarray:
  h, w = images.shape[1:3]
  if not size or (h, w) == (size, size):
    return images
  top, left = (h - size) // 2, (w - size) // 2
  return images[:, top:top + size, left:left + size]


# -- readers: each returns {'a': uint8 [N, S, S, C], 'b': ..., 'label_a': [N], 'label_b': [N]} of a split

class _TfdsReader:

  def __init__(self, data, size: int, pad: bool):
    import tensorflow_datasets as tfds
    from jaxgan.data.images import _prepare, data_dir_of
    self.tfds, self.data, self.size, self.pad = tfds, data, size, pad
    self.data_dir = data_dir_of(data)
    self.builder = _prepare(data.name, self.data_dir, data.download)
    features = self.builder.info.features
    splits = self.builder.info.splits
    self.paired = 'a' in features and 'b' in features
    if self.paired:
      needed = [data.train_split, data.eval_split]
    else:
      if data.image_key not in features:
        raise DataError(f'dataset {data.name!r} has neither features a and b (paired) nor '
                        f'{data.image_key!r} (data.image_key, unpaired); it has: '
                        f'{", ".join(features.keys())}')
      needed = [f'{s}{d}' for s in (data.train_split, data.eval_split) if s for d in 'AB']
    missing = [s for s in needed if s and s not in splits]
    if missing:
      layout = ('paired: train and test splits' if self.paired else
                "unpaired, cycle_gan's layout: trainA, trainB, testA, testB")
      raise DataError(f'dataset {data.name!r} has no split {missing[0]!r} ({layout}); it has: '
                      f'{", ".join(splits.keys())}')
    label_key = data.label_key
    self.label_key = label_key if label_key and label_key in features else ''
    self.num_classes = (int(getattr(features[self.label_key], 'num_classes', 0) or 0)
                        if self.label_key else 0)

  def _read(self, split: str, key: str, limit: Optional[int]):
    try:
      source = self.tfds.data_source(self.data.name, split=split, data_dir=self.data_dir,
                                     download=False)
    except Exception as e:
      raise DataError(f'cannot read {self.data.name!r} split {split!r} without TensorFlow '
                      f'({type(e).__name__}); build it with `tfds build {self.data.name} '
                      '--file_format=array_record`') from None
    n = len(source) if limit is None else min(limit, len(source))
    images, labels = [], np.zeros((n,), np.int32)
    for start in range(0, n, 512):
      for j, example in enumerate(source.__getitems__(list(range(start, min(n, start + 512))))):
        images.append(_resize(_as_image(example[key]), self.size, self.pad))
        if self.label_key and not self.paired:
          labels[start + j] = int(example[self.label_key])
    if not images:
      raise DataError(f'split {split!r} of {self.data.name!r} is empty')
    return np.stack(images), labels

  def split(self, split: str, limit: Optional[int] = None):
    if self.paired:
      a, labels = self._read(split, 'a', limit)
      b, _ = self._read(split, 'b', limit)
      return {'a': a, 'b': b, 'label_a': labels, 'label_b': labels}
    a, label_a = self._read(f'{split}A', self.data.image_key, limit)
    b, label_b = self._read(f'{split}B', self.data.image_key, limit)
    return {'a': a, 'b': b, 'label_a': label_a, 'label_b': label_b}


def _image_files(folder: str):
  return sorted(p for p in glob.glob(os.path.join(folder, '*'))
                if p.lower().endswith(IMAGE_SUFFIXES))


def read_image_file(path: str) -> np.ndarray:
  from PIL import Image
  with Image.open(path) as image:
    if image.mode not in ('L', 'RGB'):
      image = image.convert('RGB')
    return _as_image(np.asarray(image))


class _FolderReader:
  """The reference's folder layouts (see the module doc); images of any size are resized."""

  def __init__(self, data, size: int, pad: bool):
    self.root, self.size, self.pad = os.path.expanduser(data.folder), size, pad
    if not os.path.isdir(self.root):
      raise DataError(f'data.folder={data.folder!r} is not a folder')
    self.paired = not os.path.isdir(os.path.join(self.root, f'{data.train_split}A'))
    needed = ([data.train_split, data.eval_split] if self.paired else
              [f'{s}{d}' for s in (data.train_split, data.eval_split) if s for d in 'AB'])
    for name in needed:
      if name and not _image_files(os.path.join(self.root, name)):
        raise DataError(f'{os.path.join(self.root, name)} holds no images ({", ".join(IMAGE_SUFFIXES)}); '
                        f'data.folder needs {data.train_split}A, {data.train_split}B, '
                        f'{data.eval_split}A, {data.eval_split}B (unpaired) or {data.train_split} '
                        f'and {data.eval_split} of side-by-side A|B pairs (paired)')
    self.num_classes = 0
    self.channels = None

  def _images(self, folder: str, limit: Optional[int]):
    files = _image_files(os.path.join(self.root, folder))[:limit]
    return [read_image_file(p) for p in files]

  def _same_channels(self, images):
    # A folder may mix grey and colour files: colour wins, grey ones are repeated.
    if any(im.shape[-1] == 3 for im in images):
      images = [np.repeat(im, 3, -1) if im.shape[-1] == 1 else im for im in images]
    return images

  def split(self, split: str, limit: Optional[int] = None):
    if self.paired:
      pairs = self._same_channels(self._images(split, limit))
      a = np.stack([_resize(im[:, :im.shape[1] // 2], self.size, self.pad) for im in pairs])
      b = np.stack([_resize(im[:, im.shape[1] // 2:], self.size, self.pad) for im in pairs])
    else:
      a = np.stack([_resize(im, self.size, self.pad)
                    for im in self._same_channels(self._images(f'{split}A', limit))])
      b = np.stack([_resize(im, self.size, self.pad)
                    for im in self._same_channels(self._images(f'{split}B', limit))])
    return {'a': a, 'b': b, 'label_a': np.zeros(len(a), np.int32),
            'label_b': np.zeros(len(b), np.int32)}


@SOURCES.register('image_to_image')
class TranslationSource:

  def __init__(self, config):
    data = config.data
    self.config = config
    self.size = int(data.image_size)
    pad = data.get('resize', 'resize') == 'pad'
    reader_cls = _FolderReader if data.get('folder', '') else _TfdsReader
    self.reader = reader_cls(data, self.size, pad)
    self.name = data.name if not data.get('folder', '') else os.path.basename(
        os.path.normpath(self.reader.root))
    self.paired = self.reader.paired
    self.train = self.reader.split(data.train_split)
    self.crop = int(data.crop_size)
    self.flip = bool(data.flip)
    shape_a, shape_b = self.train['a'].shape[1:], self.train['b'].shape[1:]
    if shape_a[:2] != shape_b[:2]:
      raise DataError(f'the domains have images of {shape_a[0]}x{shape_a[1]} and '
                      f'{shape_b[0]}x{shape_b[1]}; set data.image_size to bring them to one size')
    if self.crop > min(shape_a[:2]):
      raise DataError(f'data.crop_size={self.crop} is larger than the images '
                      f'({shape_a[0]}x{shape_a[1]} after data.image_size)')
    side = self.crop or None
    self.info = TranslationInfo(
        self.name, ((side or shape_a[0]), (side or shape_a[1]), shape_a[2]),
        ((side or shape_b[0]), (side or shape_b[1]), shape_b[2]), self.reader.num_classes,
        len(self.train['a']), len(self.train['b']), self.paired)
    self._eval = None

  def example_batch(self, batches_per_step: int, batch_size: Optional[int] = None):
    shape = (batches_per_step, batch_size or self.config.train.batch_size)
    return {'a': jnp.zeros(shape + self.info.image_shape, jnp.float32),
            'b': jnp.zeros(shape + self.info.target_shape, jnp.float32)}

  def make_batches(self, mesh):
    megabytes = (self.train['a'].nbytes + self.train['b'].nbytes) / 2**20
    limit = self.config.data.max_in_memory_mb
    if megabytes > limit:
      raise DataError(f'the train images take {megabytes:,.0f} MB, more than '
                      f'data.max_in_memory_mb={limit} (the image_to_image source keeps them on '
                      'the device); lower data.image_size or raise the limit')
    return TranslationBatches(self.train, self.paired, self.config.train.batch_size,
                              self.config.seed, mesh, self.crop, self.flip)

  def _eval_split(self):
    if self._eval is None:
      split = self.config.data.eval_split or self.config.data.train_split
      arrays = self.reader.split(split, self.config.eval.get('max_real_samples', None))
      arrays['a'] = center_crop(arrays['a'], self.crop)
      arrays['b'] = center_crop(arrays['b'], self.crop)
      self._eval = arrays
    return self._eval

  def eval_arrays(self, limit: Optional[int] = None):
    """The held-out images, centre-cropped: {'a', 'b': float32 NHWC in [-1, 1] (for an
    unpaired dataset two sets of different sizes), 'label_a', 'label_b': int32}."""
    arrays = self._eval_split()
    return {'a': arrays['a'][:limit].astype(np.float32) / 127.5 - 1.0,
            'b': arrays['b'][:limit].astype(np.float32) / 127.5 - 1.0,
            'label_a': arrays['label_a'][:limit], 'label_b': arrays['label_b'][:limit]}

  def preview_batch(self, n: int):
    arrays = self.eval_arrays()
    n = min(n, len(arrays['a']), len(arrays['b']))
    return {'a': arrays['a'][:n], 'b': arrays['b'][:n]}


def random_crop_and_flip(key, images, crop: int, flip: bool):
  """One example or a pair: `images` is a tuple of [H, W, C] arrays given one crop window and
  one flip (traceable)."""
  h, w = images[0].shape[:2]
  crop_key, flip_key = jax.random.split(key)
  if crop and (crop, crop) != (h, w):
    top = jax.random.randint(crop_key, (), 0, h - crop + 1)
    left = jax.random.randint(jax.random.fold_in(crop_key, 1), (), 0, w - crop + 1)
    images = tuple(jax.lax.dynamic_slice(x, (top, left, 0), (crop, crop, x.shape[-1]))
                   for x in images)
  if flip:
    mirrored = jax.random.bernoulli(flip_key)
    images = tuple(jnp.where(mirrored, x[:, ::-1], x) for x in images)
  return images


class TranslationBatches:
  """Both domains' train images on the device; the compiled step shuffles, crops and flips.

  Batch t of domain d takes its records from the permutation of epoch t // (N_d // B) drawn
  from fold_in(key_d, epoch) (a pair shares domain A's), and its crops and flips from
  fold_in(augment key, t): a resumed run sees exactly the batches of an uninterrupted one.
  """

  in_memory = True

  def __init__(self, train, paired: bool, batch_size: int, seed: int, mesh, crop: int,
               flip: bool):
    check_enough_records(len(train['a']), batch_size, 'domain A (train)')
    check_enough_records(len(train['b']), batch_size, 'domain B (train)')
    self.num_records = min(len(train['a']), len(train['b']))
    self.sizes = (len(train['a']), len(train['b']))
    self.paired, self.batch_size, self.crop, self.flip = paired, batch_size, crop, flip
    self.mesh = mesh
    base = jax.random.fold_in(jax.random.PRNGKey(seed), 0x0DA7A)
    self.keys = (jax.random.fold_in(base, 0), jax.random.fold_in(base, 1))
    self.augment_key = jax.random.fold_in(base, _AUGMENT_STREAM)
    self.device_data = (parallel.replicate_host_array(train['a'], mesh),
                        parallel.replicate_host_array(train['b'], mesh))

  def batch_at(self, device_data, step, first_batch, count: int, batch_size=None):
    del step
    images_a, images_b = device_data
    size = self.batch_size if batch_size is None else batch_size

    def one(i):
      t = first_batch + i
      index_a = batch_indices(self.keys[0], self.sizes[0], t, size)
      index_b = index_a if self.paired else batch_indices(self.keys[1], self.sizes[1], t, size)
      a = images_a[index_a].astype(jnp.float32) / 127.5 - 1.0
      b = images_b[index_b].astype(jnp.float32) / 127.5 - 1.0
      keys = jax.random.split(jax.random.fold_in(self.augment_key, t), 2 * size)
      if self.paired:
        a, b = jax.vmap(lambda k, x, y: random_crop_and_flip(k, (x, y), self.crop, self.flip))(
            keys[:size], a, b)
      else:
        (a,) = jax.vmap(lambda k, x: random_crop_and_flip(k, (x,), self.crop, self.flip))(
            keys[:size], a)
        (b,) = jax.vmap(lambda k, x: random_crop_and_flip(k, (x,), self.crop, self.flip))(
            keys[size:], b)
      return a, b

    a, b = jax.vmap(one)(jnp.arange(count))
    sharding = parallel.batch_sharding(self.mesh, batch_axis=1)
    return jax.lax.with_sharding_constraint({'a': a, 'b': b}, {'a': sharding, 'b': sharding})
