"""The offline TFDS dataset, reading TFDS datasets by name, and the batch pipelines."""
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import parallel
from jaxgan.data import load_dataset
from jaxgan.data.pipeline import InMemoryBatches, StreamingBatches, permuted_positions
from jaxgan.errors import DataError
from tests.conftest import ROOT, tiny_dcgan


def test_offline_mnist_is_a_real_tfds_dataset_with_a_stratified_held_out_split(data_dir):
  train = tfds.data_source('offline_mnist', split='train', data_dir=data_dir)
  test = tfds.data_source('offline_mnist', split='test', data_dir=data_dir)
  assert len(train) == 4500 and len(test) == 500
  dataset = load_dataset(tiny_dcgan(data_dir).data)
  images, labels = dataset.arrays('test')
  assert images.shape == (500, 28, 28, 1) and images.dtype == np.uint8
  assert np.bincount(labels, minlength=10).tolist() == [50] * 10
  train_images, _ = dataset.arrays('train')
  # Held out means disjoint: no test digit appears in train.
  train_keys = {im.tobytes() for im in train_images}
  assert sum(im.tobytes() in train_keys for im in images) == 0
  assert 30 < images.mean() < 60  # real digits: mostly black with white strokes


def test_default_path_needs_no_tensorflow(data_dir):
  code = ('import sys; from configs import dcgan; from jaxgan.data import load_dataset;'
          f'c = dcgan.get_config(); c.data.data_dir = {data_dir!r};'
          'd = load_dataset(c.data); d.arrays("train", 8);'
          'assert "tensorflow" not in sys.modules, "tensorflow was imported"; print("ok")')
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]


class FakeColor(tfds.core.GeneratorBasedBuilder):
  """A stand-in for a standard TFDS image dataset (cifar10-like: 32x32x3, 10 classes)."""
  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Tensor(shape=(32, 32, 3), dtype=np.uint8),
        'label': tfds.features.ClassLabel(num_classes=10)}))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples(40), 'test': self._generate_examples(10)}

  def _generate_examples(self, n):
    rng = np.random.default_rng(n)
    for i in range(n):
      yield i, {'image': rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), 'label': i % 10}


def test_any_prepared_tfds_dataset_is_read_by_name_and_resized(tmp_path):
  FakeColor(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  config = tiny_dcgan(str(tmp_path))
  config.data.name = 'fake_color'
  config.data.image_size = 16
  dataset = load_dataset(config.data)
  assert dataset.info.image_shape == (16, 16, 3) and dataset.info.num_classes == 10
  images, labels = dataset.arrays('train')
  assert images.shape == (40, 16, 16, 3) and np.bincount(labels).tolist() == [4] * 10


def test_missing_standard_dataset_says_how_to_get_it(tmp_path):
  config = tiny_dcgan(str(tmp_path))
  config.data.name = 'mnist'
  with pytest.raises(DataError, match=r"dataset 'mnist' is not prepared in .*tfds build mnist"):
    load_dataset(config.data)


def test_unknown_dataset_is_a_data_error(tmp_path):
  config = tiny_dcgan(str(tmp_path))
  config.data.name = 'no_such_dataset_xyz'
  with pytest.raises(DataError, match="unknown dataset 'no_such_dataset_xyz'"):
    load_dataset(config.data)


def _in_memory(n=50, batch=8, seed=0):
  images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
  labels = np.arange(n, dtype=np.int32)
  return InMemoryBatches(images, labels, batch, seed, parallel.make_mesh())


def _batch_at(batches, step, per_step=1):
  """Step `step`'s batches as the loop asks for them in a run of one phase."""
  fn = jax.jit(batches.batch_at, static_argnums=3)
  return fn(batches.device_data, step, step * per_step, per_step)


def test_in_memory_batches_cover_each_epoch_once_and_reshuffle_by_epoch():
  batches = _in_memory()
  epoch = [np.asarray(_batch_at(batches, s)['label'])[0] for s in range(6)]
  seen = np.concatenate(epoch)
  assert len(set(seen.tolist())) == 48  # 6 batches of 8 from 50: no repeats, last 2 dropped
  next_epoch = np.concatenate([np.asarray(_batch_at(batches, s)['label'])[0]
                               for s in range(6, 12)])
  assert not np.array_equal(seen, next_epoch)
  # Images follow their labels, scaled to [-1, 1].
  b = _batch_at(batches, 3)
  np.testing.assert_allclose(np.asarray(b['image'])[0, :, 0, 0, 0],
                             np.asarray(b['label'])[0] / 127.5 - 1.0, rtol=1e-6)


def test_in_memory_batches_are_deterministic_by_seed():
  a, b, c = _in_memory(seed=1), _in_memory(seed=1), _in_memory(seed=2)
  label = lambda batches, s: np.asarray(_batch_at(batches, s)['label'])
  assert np.array_equal(label(a, 4), label(b, 4))
  assert not np.array_equal(label(a, 4), label(c, 4))


@pytest.mark.parametrize('num_records', [1, 2, 3, 50, 64, 65, 4500])
def test_the_epoch_permutation_is_a_bijection_that_depends_on_the_key(num_records):
  positions = np.arange(num_records)
  fn = jax.jit(permuted_positions, static_argnums=1)
  first = np.asarray(fn(jax.random.PRNGKey(0), num_records, positions))
  assert sorted(first.tolist()) == positions.tolist()
  if num_records >= 50:
    other = np.asarray(fn(jax.random.PRNGKey(1), num_records, positions))
    assert sorted(other.tolist()) == positions.tolist()
    # A random permutation of n keeps about 1 position in place and agrees with another in
    # about 1: far more would mean the key or the mixing does not reach the output.
    assert (first == positions).sum() < 8 and (first == other).sum() < 8
    # Any slice of positions maps as the whole does (one batch is computed on its own).
    assert np.array_equal(np.asarray(fn(jax.random.PRNGKey(0), num_records, positions[17:40])),
                          first[17:40])


def test_several_batches_per_step_are_consecutive_batches():
  batches = _in_memory()
  got = np.asarray(_batch_at(batches, 1, per_step=3)['label'])
  want = [np.asarray(_batch_at(batches, s)['label'])[0] for s in (3, 4, 5)]
  assert got.shape == (3, 8) and np.array_equal(got, np.stack(want))


def test_a_phase_batch_size_slices_batches_of_that_size_covering_its_epoch_once():
  batches = _in_memory()            # train.batch_size 8, 50 records
  fn = jax.jit(batches.batch_at, static_argnums=(3, 4))
  labels = [np.asarray(fn(batches.device_data, s, s, 1, 16)['label'])[0] for s in range(3)]
  assert all(l.shape == (16,) for l in labels)
  assert len(set(np.concatenate(labels).tolist())) == 48     # 3 batches of 16: no repeats
  # 50 // 16 = 3 batches an epoch: batch 3 opens epoch 1, a fresh permutation.
  fourth = np.asarray(fn(batches.device_data, 3, 3, 1, 16)['label'])[0]
  assert len(set(fourth.tolist())) == 16 and not np.array_equal(fourth, labels[0])


def test_streaming_batches_resume_exactly_at_any_step(data_dir):
  config = tiny_dcgan(data_dir)
  dataset = load_dataset(config.data)
  stream = StreamingBatches(dataset, 16, seed=3, mesh=parallel.make_mesh(),
                            read_threads=2, prefetch_batches=2)
  from jaxgan.train import phase_spans
  from jaxgan.trainers import Phase
  (span,) = phase_spans([Phase('train', None, 1)])
  full = [(s, np.asarray(b['label'])) for s, b in stream.iterate(0, 5, span)]
  resumed = [(s, np.asarray(b['label'])) for s, b in stream.iterate(3, 5, span)]
  assert [s for s, _ in full] == [0, 1, 2, 3, 4]
  for (s1, l1), (s2, l2) in zip(full[3:], resumed):
    assert s1 == s2 and np.array_equal(l1, l2)
  assert not np.array_equal(full[0][1], full[1][1])
  # A phase with its own batch size streams batches of that size.
  (wide,) = phase_spans([Phase('train', None, 1, 32)])
  assert [b['label'].shape for _, b in stream.iterate(0, 2, wide)] == [(1, 32), (1, 32)]
