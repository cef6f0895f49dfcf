"""SeqGAN's nets (Yu et al. 2017, LantaoYu/SeqGAN): the LSTM generator (also the oracle, with
N(0, 1) weights) and the CNN discriminator over token embeddings with a highway layer.

The LSTM is the reference's own cell (generator.py / target_lstm.py), gates i, f, o and the
candidate c fused into one matrix per input:
  z = emb(x_t) W + h U + b;  c' = sigmoid(f) c + sigmoid(i) tanh(c~);  h' = sigmoid(o) tanh(c')
  logits = h' W_out + b_out
every weight (biases too) drawn from N(0, init_std) as the reference's init_matrix does. The
first input is token `start_token` (0, a word of the vocabulary, as in the reference).

Sampling takes uniforms, one per token (inverse-CDF sampling): a categorical draw costs one
random number instead of a Gumbel per vocabulary entry (5,000), and a PyTorch port fed the same
uniforms draws the same tokens (tests/test_seqgan_parity.py). Everything over time is a
`lax.scan`; nothing loops over tokens in Python.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _block_size(vocab: int) -> int:
  """Entries per block of the two-level draw: the divisor of `vocab` that makes the fewest
  blocks plus entries per block (sqrt(vocab) each at best); 0 when none is near that and the
  logits must be padded (a prime vocabulary)."""
  best = min((d for d in range(1, vocab + 1) if vocab % d == 0), key=lambda d: d + vocab // d)
  return best if best + vocab // best <= 3 * math.sqrt(vocab) + 2 else 0


def categorical_from_uniform(logits, uniform):
  """Inverse-CDF draw from softmax(logits) [..., V] with one uniform in [0, 1) per row [...]:
  the token where the cumulative probability first exceeds the uniform. Two levels (blocks of
  about sqrt(V) entries: first the block, then the entry within it), each a small triangular
  matrix product, and the exponentials of all V logits only inside a fused sum: on XLA:CPU a
  cumulative sum, or any elementwise op writing out all [rows, 5000] probabilities, cost
  10-20x the logits' own matrix product."""
  vocab = logits.shape[-1]
  block = _block_size(vocab)
  if not block:
    block = int(math.ceil(math.sqrt(vocab)))
    padded = -(-vocab // block) * block
    logits = jnp.pad(logits, [(0, 0)] * (logits.ndim - 1) + [(0, padded - vocab)],
                     constant_values=-jnp.inf)
  num_blocks = logits.shape[-1] // block
  blocks = logits.reshape(logits.shape[:-1] + (num_blocks, block))
  top = jnp.max(logits, axis=-1)[..., None, None]
  inclusive = lambda n: jnp.triu(jnp.ones((n, n), logits.dtype))   # x @ it: cumulative sums
  block_cdf = jnp.exp(blocks - top).sum(-1) @ inclusive(num_blocks)       # [..., blocks]
  target = uniform * block_cdf[..., -1]
  chosen = jnp.minimum(jnp.sum(block_cdf < target[..., None], axis=-1), num_blocks - 1)
  before = jnp.where(chosen > 0, jnp.take_along_axis(
      block_cdf, jnp.maximum(chosen - 1, 0)[..., None], -1)[..., 0], 0.0)
  chosen_logits = jnp.take_along_axis(blocks, chosen[..., None, None], -2)[..., 0, :]
  within = jnp.exp(chosen_logits - top[..., 0]) @ inclusive(block)
  offset = jnp.minimum(jnp.sum(within < (target - before)[..., None], axis=-1), block - 1)
  return jnp.minimum(chosen * block + offset, vocab - 1).astype(jnp.int32)


class SequenceLSTM(nn.Module):
  """The reference's LSTM language model over `vocab_size` tokens."""
  vocab_size: int
  embed_dim: int
  hidden_dim: int
  init_std: float = 0.1
  start_token: int = 0

  def setup(self):
    init = nn.initializers.normal(self.init_std)
    v, e, h = self.vocab_size, self.embed_dim, self.hidden_dim
    self.embedding = self.param('embedding', init, (v, e))
    self.w_input = self.param('w_input', init, (e, 4 * h))     # gates i, f, o, candidate
    self.w_hidden = self.param('w_hidden', init, (h, 4 * h))
    self.bias = self.param('bias', init, (4 * h,))
    self.w_out = self.param('w_out', init, (h, v))
    self.b_out = self.param('b_out', init, (v,))

  def cell(self, carry, token):
    """One step: (h, c), the previous token [...] -> (h', c'), logits [..., V]."""
    h, c = carry
    z = self.embedding[token] @ self.w_input + h @ self.w_hidden + self.bias
    i, f, o, candidate = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(candidate)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h @ self.w_out + self.b_out

  def zero_carry(self, batch_shape):
    zeros = jnp.zeros(tuple(batch_shape) + (self.hidden_dim,), jnp.float32)
    return zeros, zeros

  def inputs_of(self, tokens):
    """[B, T] targets -> [B, T] inputs (the start token, then the targets shifted by one)."""
    start = jnp.full(tokens.shape[:-1] + (1,), self.start_token, tokens.dtype)
    return jnp.concatenate([start, tokens[..., :-1]], axis=-1)

  def __call__(self, tokens, train: bool = False):
    """Teacher-forced logits [B, T, V] of every token of `tokens` [B, T] given its prefix."""
    del train
    inputs = jnp.moveaxis(self.inputs_of(tokens), -1, 0)            # [T, B]

    def body(carry, token):
      return self.cell(carry, token)
    _, logits = jax.lax.scan(body, self.zero_carry(tokens.shape[:-1]), inputs)
    return jnp.moveaxis(logits, 0, -2)

  def log_probs(self, tokens, temperature: float = 1.0):
    """log p(token_t | prefix) [B, T] under softmax(logits / temperature)."""
    logits = self(tokens) / temperature
    return jnp.take_along_axis(jax.nn.log_softmax(logits, -1), tokens[..., None], -1)[..., 0]

  def sample(self, uniforms, temperature: float = 1.0):
    """Sequences [B, T] drawn token by token; `uniforms` [T, B] (one per token)."""
    batch = uniforms.shape[1:]

    def body(carry, u):
      state, previous = carry
      state, logits = self.cell(state, previous)
      token = categorical_from_uniform(logits / temperature, u)
      return (state, token), token
    start = jnp.full(batch, self.start_token, jnp.int32)
    _, tokens = jax.lax.scan(body, (self.zero_carry(batch), start), uniforms)
    return jnp.moveaxis(tokens, 0, -1)

  def complete(self, tokens, uniforms):
    """Monte Carlo completions of every proper prefix of `tokens` [B, T], as the reference's
    roll-out does: for prefix length t = 1 .. T-1, the first t tokens are fed as given and the
    remaining ones drawn from this net. `uniforms` [T, T-1, B]. Returns [T-1, B, T] (prefix
    length t at index t - 1). One scan over time with all prefixes side by side."""
    seq_len = tokens.shape[-1]
    prefixes = jnp.arange(1, seq_len)[:, None]                       # [P, 1]
    batch = (seq_len - 1,) + tokens.shape[:-1]
    given = jnp.moveaxis(tokens, -1, 0)                              # [T, B]

    def body(carry, inputs):
      state, previous = carry
      t, u, given_t = inputs
      state, logits = self.cell(state, previous)
      drawn = categorical_from_uniform(logits, u)
      token = jnp.where(t < prefixes, given_t[None], drawn)
      return (state, token), token
    start = jnp.full(batch, self.start_token, jnp.int32)
    _, out = jax.lax.scan(body, (self.zero_carry(batch), start),
                          (jnp.arange(seq_len), uniforms, given))
    return jnp.moveaxis(out, 0, -1)


def _uniform_symmetric(key, shape, dtype=jnp.float32):
  return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class Highway(nn.Module):
  """t * relu(W_h x) + (1 - t) * x with t = sigmoid(W_t x + gate_bias) (the reference's
  highway(), called there with one layer and bias 0)."""
  gate_bias: float = 0.0

  @nn.compact
  def __call__(self, x):
    size = x.shape[-1]
    transformed = nn.relu(nn.Dense(size, name='transform')(x))
    gate = jax.nn.sigmoid(nn.Dense(size, name='gate')(x) + self.gate_bias)
    return gate * transformed + (1.0 - gate) * x


class CNNDiscriminator(nn.Module):
  """The reference's text CNN: token embeddings (uniform(-1, 1)), one convolution per filter
  width over all embedding channels (weights truncated N(0, 0.1), bias 0.1), ReLU, max over
  time, concatenated; a highway layer; dropout; two logits (fake, real). P(real) is
  softmax(logits)[..., 1]."""
  vocab_size: int
  embed_dim: int
  filter_sizes: Sequence[int]
  num_filters: Sequence[int]
  dropout_keep: float = 0.75

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    embedding = self.param('embedding', _uniform_symmetric, (self.vocab_size, self.embed_dim))
    x = embedding[tokens]
    pooled = []
    for width, count in zip(self.filter_sizes, self.num_filters):
      h = nn.Conv(count, (width,), padding='VALID', name=f'conv_{width}',
                  kernel_init=nn.initializers.truncated_normal(0.1),
                  bias_init=nn.initializers.constant(0.1))(x)
      pooled.append(jnp.max(nn.relu(h), axis=-2))
    h = Highway(name='highway')(jnp.concatenate(pooled, axis=-1))
    h = nn.Dropout(1.0 - self.dropout_keep, deterministic=not train)(h)
    return nn.Dense(2, name='output', kernel_init=nn.initializers.truncated_normal(0.1),
                    bias_init=nn.initializers.constant(0.1))(h)
