"""The SeqGAN oracle (Yu et al. 2017): a synthetic language whose true model is known.

An LSTM with every weight drawn from N(0, `oracle.init_std` = 1) (vocabulary 5,000, length 20,
embedding and hidden 32 in the paper) is the "real" data distribution. `data.source = 'oracle'`
draws `oracle.num_train` (10,000) training sequences and `oracle.num_eval` held-out ones from
it; the oracle itself stays inside the source, so an evaluator can score a generator's samples
by their NLL under it (NLL-oracle, jaxgan/metrics/oracle.py). The oracle's weights and data
come from `oracle.seed` alone, not from the run's `seed`: runs with different seeds face the
same oracle and the same data (only their shuffling differs).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.architectures.seqgan import SequenceLSTM
from jaxgan.data import SOURCES, tokens
from jaxgan.errors import DataError

_PARAMS, _TRAIN, _EVAL = 0, 1, 2
_DRAW_CHUNK = 2000   # sequences per compiled draw (bounds the [chunk, V] logits)


def oracle_module(oracle_config) -> SequenceLSTM:
  return SequenceLSTM(int(oracle_config.vocab_size), int(oracle_config.embed_dim),
                      int(oracle_config.hidden_dim), init_std=float(oracle_config.init_std))


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _draw(module, params, key, n, seq_len):
  uniforms = jax.random.uniform(key, (seq_len, n))
  return module.apply({'params': params}, uniforms, method=module.sample)


def draw(module, params, key, n: int, seq_len: int) -> np.ndarray:
  """n sequences [n, T] of the LSTM `module`, drawn in chunks."""
  chunks = []   # all of one size (one compiled program), the last one cut
  for i, start in enumerate(range(0, n, _DRAW_CHUNK)):
    chunk = np.asarray(_draw(module, params, jax.random.fold_in(key, i), _DRAW_CHUNK, seq_len))
    chunks.append(chunk[:n - start])
  return np.concatenate(chunks).astype(np.int32)


@SOURCES.register('oracle')
class OracleSource(tokens.TokenSource):
  """Sequences of the oracle LSTM as {'tokens': [k, B, T]}, in memory."""

  def __init__(self, config):
    oracle = config.oracle
    for field in ('vocab_size', 'seq_len', 'embed_dim', 'hidden_dim', 'num_train', 'num_eval'):
      value = oracle[field]
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DataError(f'oracle.{field} must be a positive integer, got {value!r}')
    self.config = config
    self.name = config.data.name
    self.seq_len = int(oracle.seq_len)
    self.module = oracle_module(oracle)
    key = jax.random.PRNGKey(int(oracle.seed))
    example = jnp.zeros((1, self.seq_len), jnp.int32)
    self.params = jax.jit(self.module.init)(jax.random.fold_in(key, _PARAMS), example)['params']
    self.train_tokens = draw(self.module, self.params, jax.random.fold_in(key, _TRAIN),
                             int(oracle.num_train), self.seq_len)
    self.eval_tokens = draw(self.module, self.params, jax.random.fold_in(key, _EVAL),
                            int(oracle.num_eval), self.seq_len)
    self.info = tokens.TokenInfo(self.name, (self.seq_len,), 0, len(self.train_tokens),
                                 int(oracle.vocab_size), self.seq_len)

  def oracle_log_probs(self, sequences):
    """Traceable: log p_oracle(token_t | prefix) [N, T] of sequences [N, T]."""
    return self.module.apply({'params': self.params}, sequences, method=self.module.log_probs)

  def decode_tokens(self, sequences):
    """Token ids [N, T] -> N lines of ids (the oracle's language has no words)."""
    return tokens.decode(sequences)
