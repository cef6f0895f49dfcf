"""Batches for training: in device memory for small datasets, streamed with grain for large ones.

Both produce, for train step `s`, an array of `batches_per_step` batches (several when the
discriminator takes several updates per step), and both are deterministic functions of
(seed, step): a resumed run sees exactly the batches an uninterrupted one would.

Images travel as uint8 and become floats in [-1, 1] inside the compiled step (`to_model_input`).
"""
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.errors import DataError


def to_model_input(images_uint8, labels):
  images = images_uint8.astype(jnp.float32) / 127.5 - 1.0
  return {'image': images, 'label': labels.astype(jnp.int32)}


def check_enough_records(num_records: int, batch_size: int, name: str) -> None:
  if num_records < batch_size:
    raise DataError(f'dataset {name!r} has {num_records} training records, fewer than '
                    f'train.batch_size={batch_size}')


class InMemoryBatches:
  """The whole train split on the device; the compiled step shuffles and slices it.

  Epoch e uses the permutation drawn from fold_in(key, e); the last partial batch of an
  epoch is dropped, as in the PyTorch loaders with drop_last.
  """

  in_memory = True

  def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
               batches_per_step: int, seed: int, mesh):
    check_enough_records(len(images), batch_size, 'train split')
    self.num_records = len(images)
    self.batch_size = batch_size
    self.batches_per_step = batches_per_step
    self.batches_per_epoch = self.num_records // batch_size
    self.key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x0DA7A)
    self.mesh = mesh
    self.device_data = (parallel.replicate_host_array(images, mesh),
                        parallel.replicate_host_array(labels.astype(np.int32), mesh))

  def epoch_of(self, step: int) -> int:
    return (step * self.batches_per_step) // self.batches_per_epoch

  def batch_at(self, device_data, step):
    """Traceable: the `batches_per_step` batches of train step `step` (a traced int)."""
    images, labels = device_data
    sharding = parallel.batch_sharding(self.mesh, batch_axis=1)

    def one(i):
      t = step * self.batches_per_step + i
      epoch, position = t // self.batches_per_epoch, t % self.batches_per_epoch
      permutation = jax.random.permutation(jax.random.fold_in(self.key, epoch), self.num_records)
      index = jax.lax.dynamic_slice_in_dim(permutation, position * self.batch_size, self.batch_size)
      return images[index], labels[index]

    batch_images, batch_labels = jax.vmap(one)(jnp.arange(self.batches_per_step))
    batch = to_model_input(batch_images, batch_labels)
    return jax.lax.with_sharding_constraint(batch, {'image': sharding, 'label': sharding})


class StreamingBatches:
  """Streams the train split with grain: threaded reads, prefetch, per-process shards.

  Records are shuffled per epoch by grain from `seed`; global batch t holds stream records
  [t*B, (t+1)*B), of which process p reads its contiguous share. Because grain's MapDataset
  is random access, starting at any step is exact.
  """

  in_memory = False

  def __init__(self, dataset, batch_size: int, batches_per_step: int, seed: int, mesh,
               read_threads: int, prefetch_batches: int):
    import grain
    split = dataset.config.train_split
    num_records = dataset.num_records(split)
    check_enough_records(num_records, batch_size, dataset.name)
    self.dataset, self.split = dataset, split
    self.batch_size = batch_size
    self.batches_per_step = batches_per_step
    self.batches_per_epoch = num_records // batch_size
    self.mesh = mesh
    self.local_batch = batch_size // jax.process_count()
    self.process = jax.process_index()
    self._read_options = grain.ReadOptions(num_threads=read_threads,
                                           prefetch_buffer_size=prefetch_batches)
    self._stream = grain.MapDataset.range(num_records).shuffle(seed=seed).repeat()

  def epoch_of(self, step: int) -> int:
    return (step * self.batches_per_step) // self.batches_per_epoch

  def _local_step(self, step: int):
    k, b = self.batches_per_step, self.local_batch
    images = np.empty((k, b) + self.dataset.image_shape, np.uint8)
    labels = np.empty((k, b), np.int32)
    for i in range(k):
      first = (step * k + i) * self.batch_size + self.process * b
      for j in range(b):
        images[i, j], labels[i, j] = self.dataset.record(self.split, self._stream[first + j])
    return images, labels

  def iterate(self, start_step: int, end_step: int):
    """Yields (step, global batch dict) from `start_step` to `end_step` - 1."""
    import grain
    steps = grain.MapDataset.range(start_step, end_step).map(lambda s: (s, self._local_step(s)))
    for step, (images, labels) in steps.to_iter_dataset(self._read_options):
      yield int(step), parallel.global_batch({'image': images, 'label': labels}, self.mesh, 1)

  def model_input(self, raw):
    return to_model_input(raw['image'], raw['label'])


def make_batches(config, dataset, batches_per_step: int, mesh):
  """Chooses in-memory or streaming batches from the config and the split's size."""
  if hasattr(dataset, 'make_batches'):  # a synthetic source draws its own (data/mixtures.py)
    return dataset.make_batches(config, batches_per_step, mesh)
  split = config.data.train_split
  if config.data.in_memory == 'yes':
    in_memory = True
  elif config.data.in_memory == 'no':
    in_memory = False
  else:
    in_memory = dataset.nbytes(split) <= config.data.max_in_memory_mb * 2**20
  if in_memory:
    images, labels = dataset.arrays(split)
    return InMemoryBatches(images, labels, config.train.batch_size, batches_per_step,
                           config.seed, mesh)
  return StreamingBatches(dataset, config.train.batch_size, batches_per_step, config.seed, mesh,
                          config.data.read_threads, config.data.prefetch_batches)
