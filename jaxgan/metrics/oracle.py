"""The 'oracle_nll' evaluator: SeqGAN's synthetic-data measures (Yu et al. 2017), in nats per
token, for a source with an oracle inside (jaxgan/data/oracle.py).

Built from the trainer's functions 'sample' (state, key, n) -> tokens [n, T] and
'token_log_probs' (state, tokens) -> [N, T], it reports
  nll_oracle  -mean log p_oracle of `eval.num_samples` sequences drawn from G: how likely the
              true model finds G's samples (quality; the paper's 8.736 at length 20). Lower is
              better; the oracle's own samples score its entropy rate.
  nll_test    -mean log G of the source's held-out oracle sequences (the first
              `eval.max_real_samples`): how well G covers the data (diversity). Lower is better.
The same fixed key at every evaluation and on resume.
"""
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import int_field
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS

_ORACLE_STREAM = 0x0AC1E
_PER_CALL = 1000   # sequences per compiled call


def _check_config(config) -> None:
  int_field(config, 'eval.num_samples', 1)
  int_field(config, 'eval.max_real_samples', 1)


def mean_nll(log_probs_fn, tokens: np.ndarray) -> float:
  """-mean over tokens of log_probs_fn(chunk) [n, T], over `tokens` [N, T] in chunks."""
  total, count = 0.0, 0
  for start in range(0, len(tokens), _PER_CALL):
    chunk = tokens[start:start + _PER_CALL]
    total += float(np.asarray(parallel.fetch(log_probs_fn(chunk)), np.float64).sum())
    count += chunk.size
  return -total / count


@EVALUATORS.register('oracle_nll')
class OracleNLL:

  validate_config = staticmethod(_check_config)

  def __init__(self, config, source, functions, mesh):
    _check_config(config)
    if not hasattr(source, 'oracle_log_probs'):
      raise ConfigError(f'eval.metrics names oracle_nll, and data source {config.data.source!r} '
                        'has no oracle; use it with --config.data.source=oracle')
    missing = [f for f in ('sample', 'token_log_probs') if f not in functions]
    if missing:
      raise ConfigError(f'eval.metrics names oracle_nll, and trainer {config.trainer!r} has no '
                        f'{" or ".join(missing)} function (only sequence models do)')
    replicated = parallel.replicated(mesh)
    self.num_samples = int(config.eval.num_samples)
    self.held_out = np.asarray(source.eval_arrays(config.eval.max_real_samples)['tokens'])
    self.key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _ORACLE_STREAM)
    self._sample = jax.jit(functions['sample'], static_argnums=2, out_shardings=replicated)
    self._g_log_probs = jax.jit(functions['token_log_probs'], out_shardings=replicated)
    self._oracle_log_probs = jax.jit(source.oracle_log_probs, out_shardings=replicated)

  def samples(self, state) -> np.ndarray:
    chunks = []
    for i, start in enumerate(range(0, self.num_samples, _PER_CALL)):
      n = min(_PER_CALL, self.num_samples - start)
      chunks.append(np.asarray(parallel.fetch(
          self._sample(state, jax.random.fold_in(self.key, i), n))))
    return np.concatenate(chunks)

  def __call__(self, state, step=None) -> Dict[str, float]:
    del step  # the same key at every step
    return {'nll_oracle': mean_nll(self._oracle_log_probs, self.samples(state)),
            'nll_test': mean_nll(lambda t: self._g_log_probs(state, jnp.asarray(t)),
                                 self.held_out)}

  def describe(self) -> Dict[str, object]:
    return {'oracle_samples': self.num_samples, 'held_out_sequences': len(self.held_out)}

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    """The floor: the oracle's NLL of its own held-out sequences (its entropy rate)."""
    return {'oracle': {'nll_oracle': mean_nll(self._oracle_log_probs, self.held_out)}}
