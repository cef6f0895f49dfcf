"""Batches for training: in device memory for small datasets, streamed with grain for large ones.

Both produce, for a train step, `count` consecutive batches of the run's stream of batches
(several when the discriminator takes several updates per step), starting at batch index
`first_batch`, which the loop derives from the step and its phase (train.Span). Both are
deterministic functions of (seed, batch index): a resumed run sees exactly the batches an
uninterrupted one would.

Images travel as uint8 and become floats in [-1, 1] inside the compiled step (`to_model_input`).
"""
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.errors import DataError


def to_model_input(images_uint8, labels, pixel_max: float = 255.0):
  images = images_uint8.astype(jnp.float32) / (pixel_max / 2) - 1.0
  return {'image': images, 'label': labels.astype(jnp.int32)}


def check_enough_records(num_records: int, batch_size: int, name: str) -> None:
  if num_records < batch_size:
    raise DataError(f'dataset {name!r} has {num_records} training records, fewer than '
                    f'train.batch_size={batch_size}')


_FEISTEL_ROUNDS = 6


def _round_function(half, round_key, mask):
  """A multiply-xorshift hash of one Feistel half (uint32), cut to the half's bits."""
  h = (half ^ round_key) * jnp.uint32(0x045D9F3B)
  h = (h ^ (h >> 16)) * jnp.uint32(0x045D9F3B)
  return (h ^ (h >> 16)) & mask


def permuted_positions(key, num_records: int, positions):
  """Traceable: where `positions` (ints in [0, num_records)) go under the pseudo-random
  permutation of range(num_records) that `key` picks, in O(len(positions)) work.

  A balanced Feistel network over the smallest even number of bits that holds num_records is
  a bijection of [0, 2^bits); cycle-walking (apply it again while the result is out of
  range, fewer than 4 times on average) restricts it to a bijection of [0, num_records).
  This replaces `jax.random.permutation`, whose sort of the whole epoch cost about a tenth
  of the MLP GAN's step on a 2-core CPU, when only one batch of it is needed.
  """
  half_bits = max(1, (max(num_records - 1, 1).bit_length() + 1) // 2)
  mask = jnp.uint32((1 << half_bits) - 1)
  round_keys = jax.random.bits(key, (_FEISTEL_ROUNDS,), jnp.uint32)

  def feistel(x):
    left, right = x >> half_bits, x & mask
    for r in range(_FEISTEL_ROUNDS):
      left, right = right, left ^ _round_function(right, round_keys[r], mask)
    return (left << half_bits) | right

  def walk(x):
    return jnp.where(x >= num_records, feistel(x), x)

  x = feistel(jnp.asarray(positions).astype(jnp.uint32))
  x = jax.lax.while_loop(lambda x: jnp.any(x >= num_records), walk, x)
  return x.astype(jnp.int32)


def batch_indices(key, num_records: int, t, size: int):
  """Traceable: the record indices of batch `t` (a traced int) of `size` records in the
  stream of batches over `num_records` records. Epoch e is the permutation of the records
  that fold_in(key, e) picks (`permuted_positions`), cut into num_records // size batches
  (the last partial batch dropped, as PyTorch's loaders do with drop_last)."""
  batches_per_epoch = num_records // size
  epoch, position = t // batches_per_epoch, t % batches_per_epoch
  positions = position * size + jnp.arange(size)
  return permuted_positions(jax.random.fold_in(key, epoch), num_records, positions)


class InMemoryBatches:
  """The whole train split on the device; the compiled step shuffles and slices it.

  Epoch e uses the permutation drawn from fold_in(key, e); the last partial batch of an
  epoch is dropped, as in the PyTorch loaders with drop_last.
  """

  in_memory = True

  def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, mesh,
               pixel_max: float = 255.0):
    check_enough_records(len(images), batch_size, 'train split')
    self.num_records = len(images)
    self.batch_size = batch_size
    self.pixel_max = pixel_max
    self.key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x0DA7A)
    self.mesh = mesh
    self.device_data = (parallel.replicate_host_array(images, mesh),
                        parallel.replicate_host_array(labels.astype(np.int32), mesh))

  def batch_at(self, device_data, step, first_batch, count: int, batch_size=None):
    """Traceable: batches `first_batch` .. `first_batch + count - 1` (traced ints) stacked,
    of `batch_size` (static; None: train.batch_size) records each. Epochs count batches of
    that size, so a phase with its own batch size walks the same permutations in its own
    steps."""
    del step
    images, labels = device_data
    sharding = parallel.batch_sharding(self.mesh, batch_axis=1)
    size = self.batch_size if batch_size is None else batch_size

    def one(i):
      index = batch_indices(self.key, self.num_records, first_batch + i, size)
      return images[index], labels[index]

    batch_images, batch_labels = jax.vmap(one)(jnp.arange(count))
    batch = to_model_input(batch_images, batch_labels, self.pixel_max)
    return jax.lax.with_sharding_constraint(batch, {'image': sharding, 'label': sharding})


class StreamingBatches:
  """Streams the train split with grain: threaded reads, prefetch, per-process shards.

  Records are shuffled per epoch by grain from `seed`; global batch t holds stream records
  [t*B, (t+1)*B), of which process p reads its contiguous share. Because grain's MapDataset
  is random access, starting at any step is exact.
  """

  in_memory = False

  def __init__(self, dataset, batch_size: int, seed: int, mesh, read_threads: int,
               prefetch_batches: int, pixel_max: float = 255.0):
    import grain
    split = dataset.config.train_split
    num_records = dataset.num_records(split)
    check_enough_records(num_records, batch_size, dataset.name)
    self.dataset, self.split = dataset, split
    self.num_records = num_records
    self.batch_size = batch_size
    self.pixel_max = pixel_max
    self.mesh = mesh
    self.process = jax.process_index()
    self._read_options = grain.ReadOptions(num_threads=read_threads,
                                           prefetch_buffer_size=prefetch_batches)
    self._stream = grain.MapDataset.range(num_records).shuffle(seed=seed).repeat()

  def _local_batches(self, first_batch: int, count: int, batch_size: int):
    b = batch_size // jax.process_count()
    images = np.empty((count, b) + self.dataset.image_shape, np.uint8)
    labels = np.empty((count, b), np.int32)
    for i in range(count):
      first = (first_batch + i) * batch_size + self.process * b
      for j in range(b):
        images[i, j], labels[i, j] = self.dataset.record(self.split, self._stream[first + j])
    return images, labels

  def iterate(self, start_step: int, end_step: int, span):
    """Yields (step, global batch dict) from `start_step` to `end_step` - 1, all in `span`
    (train.Span: the phase's first step, first batch and batches per step)."""
    import grain

    batch_size = self.batch_size if span.batch_size is None else span.batch_size

    def read(step):
      return step, self._local_batches(span.first_batch_of(step), span.batches_per_step,
                                       batch_size)

    steps = grain.MapDataset.range(start_step, end_step).map(read)
    for step, (images, labels) in steps.to_iter_dataset(self._read_options):
      yield int(step), parallel.global_batch({'image': images, 'label': labels}, self.mesh, 1)

  def model_input(self, raw):
    return to_model_input(raw['image'], raw['label'], self.pixel_max)


def image_batches(config, dataset, mesh, pixel_max: float = 255.0):
  """In-memory or streaming batches of an image dataset, chosen from the config and the
  split's size."""
  split = config.data.train_split
  if config.data.in_memory == 'yes':
    in_memory = True
  elif config.data.in_memory == 'no':
    in_memory = False
  else:
    in_memory = dataset.nbytes(split) <= config.data.max_in_memory_mb * 2**20
  if in_memory:
    images, labels = dataset.arrays(split)
    return InMemoryBatches(images, labels, config.train.batch_size, config.seed, mesh, pixel_max)
  return StreamingBatches(dataset, config.train.batch_size, config.seed, mesh,
                          config.data.read_threads, config.data.prefetch_batches, pixel_max)
