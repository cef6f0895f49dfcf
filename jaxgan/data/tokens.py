"""What every token source shares: its info, its in-memory batches and how tokens read as text.

Batches are {'tokens': int32 [batches_per_step, B, T]}. The whole train split stays on the
device and the compiled step shuffles and slices it, as pipeline.InMemoryBatches does for
images: epoch e uses the permutation drawn from fold_in(key, e), the last partial batch of an
epoch is dropped, and batch t of the run's stream is a function of (seed, t) only, so a resumed
run sees exactly the batches of an uninterrupted one.
"""
import dataclasses
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.data.pipeline import batch_indices, check_enough_records


@dataclasses.dataclass(frozen=True)
class TokenInfo:
  name: str
  image_shape: Tuple[int, ...]   # (seq_len,): the shape of one item
  num_classes: int               # 0: no labels
  num_train: int
  vocab_size: int
  seq_len: int


class TokenBatches:
  """The train sequences [N, T] on the device; batch_at shuffles and slices them."""

  in_memory = True

  def __init__(self, tokens: np.ndarray, batch_size: int, seed: int, mesh):
    check_enough_records(len(tokens), batch_size, 'train split')
    self.num_records = len(tokens)
    self.batch_size = batch_size
    self.key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x0DA7A)
    self.mesh = mesh
    self.device_data = parallel.replicate_host_array(np.asarray(tokens, np.int32), mesh)

  def batch_at(self, device_data, step, first_batch, count: int, batch_size=None):
    """Traceable: batches `first_batch` .. `first_batch + count - 1` of the stream, stacked,
    of `batch_size` (static; None: train.batch_size) sequences each."""
    del step
    tokens = device_data
    size = self.batch_size if batch_size is None else batch_size

    def one(i):
      return tokens[batch_indices(self.key, self.num_records, first_batch + i, size)]

    batch = {'tokens': jax.vmap(one)(jnp.arange(count))}
    sharding = parallel.batch_sharding(self.mesh, batch_axis=1)
    return jax.lax.with_sharding_constraint(batch, {'tokens': sharding})


def example_batch(batches_per_step: int, batch_size: int, seq_len: int):
  return {'tokens': jnp.zeros((batches_per_step, batch_size, seq_len), jnp.int32)}


class TokenSource:
  """What every source of token sequences shares: a subclass sets `config`, `seq_len`,
  `train_tokens` and `eval_tokens` (int32 [N, T]) and its `info`."""

  def example_batch(self, batches_per_step: int, batch_size=None):
    return example_batch(batches_per_step, batch_size or self.config.train.batch_size,
                         self.seq_len)

  def make_batches(self, mesh):
    return TokenBatches(self.train_tokens, self.config.train.batch_size, self.config.seed, mesh)

  def eval_arrays(self, limit=None):
    return {'tokens': self.eval_tokens[:limit]}

  def preview_batch(self, n: int):
    return self.eval_arrays(n)


def decode(tokens: np.ndarray, vocabulary: Optional[Sequence[str]] = None,
           end_token: Optional[int] = None):
  """Token ids [N, T] -> N lines of text: words joined by spaces (ids when there is no
  vocabulary), cut at the first `end_token`."""
  lines = []
  for row in np.asarray(tokens):
    ids = [int(t) for t in row]
    if end_token is not None and end_token in ids:
      ids = ids[:ids.index(end_token)]
    lines.append(' '.join(vocabulary[i] if vocabulary is not None else str(i) for i in ids))
  return lines
