"""The offline Stacked-MNIST dataset: its labels are the digits it stacked, held out stays held out."""
import numpy as np
import pytest

from configs import common
from jaxgan.data import stacked_mnist
from jaxgan.data.images import ImageDataset
from jaxgan.errors import DataError


def test_stack_digits_labels_name_the_stacked_digits_and_follow_the_seed():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
  labels = rng.integers(0, 10, 40)
  stacked, modes, digits, index = stacked_mnist.stack_digits(images, labels, 25, seed=3)
  assert stacked.shape == (25, 28, 28, 3) and stacked.dtype == np.uint8
  for i in range(25):
    for c in range(3):
      np.testing.assert_array_equal(stacked[i, ..., c], images[index[i, c], ..., 0])
  np.testing.assert_array_equal(digits, labels[index])
  np.testing.assert_array_equal(modes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
  again = stacked_mnist.stack_digits(images, labels, 25, seed=3)
  other = stacked_mnist.stack_digits(images, labels, 25, seed=4)
  assert np.array_equal(again[3], index) and not np.array_equal(other[3], index)


@pytest.fixture(scope='module')
def stacked_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('stacked_tfds'))


def _data_config(data_dir, **fields):
  config = common.get_config().data
  config.name = 'offline_stacked_mnist'
  config.data_dir = data_dir
  for key, value in fields.items():
    config[key] = value
  return config


def test_built_dataset_records_are_the_offline_digits_they_name(stacked_dir):
  dataset = ImageDataset(_data_config(stacked_dir))     # prepared offline on first use
  assert dataset.info.image_shape == (28, 28, 3) and dataset.num_classes == 1000
  assert dataset.num_records('train') == stacked_mnist.NUM_TRAIN
  assert dataset.num_records('test') == stacked_mnist.NUM_TEST
  (train_x, train_y), (test_x, test_y) = stacked_mnist.offline_digits()
  for split, digits_x, digits_y in (('train', train_x, train_y), ('test', test_x, test_y)):
    source = dataset.source(split)
    for i in range(0, dataset.num_records(split), dataset.num_records(split) // 7):
      record = source[i]
      for c in range(3):   # channel c is the digit the record names, from its own split
        np.testing.assert_array_equal(record['image'][..., c],
                                      digits_x[record['source_index'][c], ..., 0])
      np.testing.assert_array_equal(record['digits'], digits_y[record['source_index']])
      d = record['digits']
      assert record['label'] == d[0] * 100 + d[1] * 10 + d[2]
  # Enough modes to count: the train split alone has nearly all 1,000.
  _, labels = dataset.arrays('train')
  assert len(np.unique(labels)) > 990


def test_padding_to_32_keeps_the_digits_and_adds_a_zero_border(stacked_dir):
  plain = ImageDataset(_data_config(stacked_dir))
  padded = ImageDataset(_data_config(stacked_dir, image_size=32, resize='pad'))
  assert padded.info.image_shape == (32, 32, 3)
  small, _ = plain.arrays('test', 4)
  big, _ = padded.arrays('test', 4)
  np.testing.assert_array_equal(big[:, 2:30, 2:30], small)
  border = big.copy()
  border[:, 2:30, 2:30] = 0
  assert not border.any()
  with pytest.raises(DataError, match='data.resize=pad needs data.image_size >= the dataset'):
    ImageDataset(_data_config(stacked_dir, image_size=16, resize='pad'))
