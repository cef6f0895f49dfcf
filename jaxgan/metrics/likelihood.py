"""The 'likelihood' evaluator: bounds on log p(x) of held-out data, in nats per example.

Built from the trainer's functions 'elbo' (state, images, key) -> [N] and 'log_likelihood'
(state, images, key, k) -> [N] (the importance-weighted bound with k samples, Burda et al.
2016), it reports on the first `eval.likelihood_examples` images of `data.eval_split`:
  elbo          the evidence lower bound (analytic KL, one sample of z per example)
  iwae_k<K>     the importance-weighted bound with K samples, for K in eval.likelihood_samples
Higher is better; iwae_k<K> rises towards log p(x) with K (iwae_k5000 is the figure papers
report as the test log-likelihood). The same fixed keys at every evaluation and on resume.
"""
from typing import Dict

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import get, int_field, require
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS

_LIKELIHOOD_STREAM = 0x11CE
_EXAMPLES_PER_CALL = 50   # held-out examples per compiled call (bounds memory at k = 5000)


def _check_config(config) -> None:
  samples = get(config, 'eval.likelihood_samples')
  require(isinstance(samples, (tuple, list)) and len(samples) > 0 and
          all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in samples),
          f'eval.likelihood_samples must be a non-empty tuple of integers >= 1, got {samples!r}')
  int_field(config, 'eval.likelihood_examples', 1)
  require(config.eval.every_steps == 0 or bool(config.data.eval_split),
          'the likelihood evaluator needs held-out data: set data.eval_split (e.g. test), or '
          'turn evaluation off with --config.eval.every_steps=0')


@EVALUATORS.register('likelihood')
class Likelihood:

  validate_config = staticmethod(_check_config)

  def __init__(self, config, source, functions, mesh):
    _check_config(config)
    missing = [f for f in ('elbo', 'log_likelihood') if f not in functions]
    if missing:
      raise ConfigError(f'eval.metrics names likelihood, and trainer {config.trainer!r} has no '
                        f'{" or ".join(missing)} function (only likelihood models do)')
    self.samples = tuple(int(k) for k in config.eval.likelihood_samples)
    images = np.asarray(source.eval_arrays(config.eval.likelihood_examples)['image'])
    self.num_examples = len(images)
    per_call = min(_EXAMPLES_PER_CALL, self.num_examples)
    padded = -(-self.num_examples // per_call) * per_call
    if padded > self.num_examples:   # one compiled shape; the padding is dropped below
      images = np.concatenate([images, np.zeros((padded - self.num_examples,) + images.shape[1:],
                                                images.dtype)])
    replicated = parallel.replicated(mesh)
    self.chunks = [parallel.replicate_host_array(images[i:i + per_call], mesh)
                   for i in range(0, padded, per_call)]
    self.key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _LIKELIHOOD_STREAM)
    self._elbo = jax.jit(functions['elbo'], out_shardings=replicated)
    self._bound = jax.jit(functions['log_likelihood'], static_argnums=3,
                          out_shardings=replicated)

  def __call__(self, state, step=None) -> Dict[str, float]:
    del step  # the same keys at every step
    results = {}
    for name, k in [('elbo', None)] + [(f'iwae_k{k}', k) for k in self.samples]:
      key = jax.random.fold_in(self.key, 0 if k is None else k)
      values = []
      for i, chunk in enumerate(self.chunks):
        chunk_key = jax.random.fold_in(key, i)
        out = self._elbo(state, chunk, chunk_key) if k is None else self._bound(state, chunk, chunk_key, k)
        values.append(np.asarray(parallel.fetch(out)))
      results[name] = float(np.concatenate(values)[:self.num_examples].astype(np.float64).mean())
    return results

  def describe(self) -> Dict[str, object]:
    return {'likelihood_examples': self.num_examples, 'likelihood_samples': list(self.samples)}

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    return {}
