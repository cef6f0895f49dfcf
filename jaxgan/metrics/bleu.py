"""The 'bleu' evaluator: BLEU-2..5 of generated text against held-out text, and Self-BLEU,
Texygen's protocol (Zhu et al. 2018) with nltk's sentence BLEU and smoothing method 1.

Built from the trainer's function 'sample' (state, key, n) -> tokens [n, T] and a source of
text (one with `words_of`, jaxgan/data/text.py): `eval.bleu_samples` sentences drawn from G
(a fixed key at every evaluation) are decoded to words (cut at <eos>), then
  bleu_<n>       mean over the samples of BLEU-n (uniform weights over 1..n-grams), each
                 sample against all `eval.bleu_references` held-out sentences as references:
                 quality, higher is better
  self_bleu_<n>  the same with each sample against the other samples as references:
                 diversity, lower is more diverse
for n = 2..5.
"""
from typing import Dict, List

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.config_checks import int_field
from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS

ORDERS = (2, 3, 4, 5)
_BLEU_STREAM = 0xB1E0


def _check_config(config) -> None:
  int_field(config, 'eval.bleu_samples', 2)
  int_field(config, 'eval.bleu_references', 1)


def bleu_scores(hypotheses: List[List[str]], references: List[List[str]],
                exclude_self: bool = False) -> Dict[int, float]:
  """{n: mean sentence BLEU-n} of `hypotheses` against `references` (nltk, smoothing
  method 1); exclude_self: hypothesis i is left out of its own references (Self-BLEU, where
  references is hypotheses)."""
  from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
  smoothing = SmoothingFunction().method1
  weights = [tuple([1.0 / n] * n) for n in ORDERS]
  totals = np.zeros(len(ORDERS))
  for i, hypothesis in enumerate(hypotheses):
    refs = references[:i] + references[i + 1:] if exclude_self else references
    totals += np.asarray(sentence_bleu(refs, hypothesis, weights, smoothing_function=smoothing))
  return {n: float(t / len(hypotheses)) for n, t in zip(ORDERS, totals)}


@EVALUATORS.register('bleu')
class BLEU:

  validate_config = staticmethod(_check_config)

  def __init__(self, config, source, functions, mesh):
    _check_config(config)
    try:
      import nltk  # noqa: F401
    except ImportError:
      raise ConfigError('eval.metrics names bleu, which needs nltk: pip install nltk') from None
    if not hasattr(source, 'words_of'):
      raise ConfigError(f'eval.metrics names bleu, and data source {config.data.source!r} is '
                        'not text; use it with --config.data.source=text')
    if 'sample' not in functions:
      raise ConfigError(f'eval.metrics names bleu, and trainer {config.trainer!r} has no sample '
                        'function')
    self.source = source
    self.num_samples = int(config.eval.bleu_samples)
    held_out = source.eval_arrays(config.eval.bleu_references)['tokens']
    self.references = [w for w in source.words_of(held_out) if w]
    if not self.references:
      raise ConfigError('the bleu evaluator needs held-out sentences: set text.eval_every '
                        '(e.g. 10: every tenth sentence is held out)')
    self.key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _BLEU_STREAM)
    self._sample = jax.jit(functions['sample'], static_argnums=2,
                           out_shardings=parallel.replicated(mesh))

  def __call__(self, state, step=None) -> Dict[str, float]:
    del step
    tokens = np.asarray(parallel.fetch(self._sample(state, self.key, self.num_samples)))
    hypotheses = [w or ['<eos>'] for w in self.source.words_of(tokens)]
    results = {f'bleu_{n}': v for n, v in bleu_scores(hypotheses, self.references).items()}
    results.update({f'self_bleu_{n}': v for n, v in
                    bleu_scores(hypotheses, hypotheses, exclude_self=True).items()})
    return results

  def describe(self) -> Dict[str, object]:
    return {'bleu_samples': self.num_samples, 'bleu_references': len(self.references)}

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    """What real sentences score. 'held_out_text': the held-out text's Self-BLEU (each of
    bleu_samples held-out sentences against the others). 'training_text': bleu_samples
    training sentences scored exactly as G's samples are (BLEU against the held-out
    references, Self-BLEU among themselves), the point a perfect model of the corpus reaches.
    """
    n = min(self.num_samples, len(self.references))
    real = self.references[:n]
    points = {'held_out_text': {f'self_bleu_{k}': v for k, v in
                                bleu_scores(real, real, exclude_self=True).items()}}
    train_tokens = getattr(self.source, 'train_tokens', None)
    if train_tokens is not None and len(train_tokens):
      rows = np.random.default_rng(0).permutation(len(train_tokens))[:self.num_samples]
      train = [w or ['<eos>'] for w in self.source.words_of(train_tokens[np.sort(rows)])]
      points['training_text'] = {
          **{f'bleu_{k}': v for k, v in bleu_scores(train, self.references).items()},
          **{f'self_bleu_{k}': v for k, v in
             bleu_scores(train, train, exclude_self=True).items()}}
    return points
