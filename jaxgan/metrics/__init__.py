"""Evaluators by name (`config.eval.metrics`), each built from the functions a trainer exposes
(`trainer.functions()`), never from the trainer itself:

  sample_quality  functions['sample']: samples against the held-out split in the features of
                  the project's digit network or of InceptionV3 (metrics/evaluator.py)
  likelihood      functions['log_likelihood']: ELBO and importance-weighted bounds of log p(x)
                  on held-out data (metrics/likelihood.py)
  oracle_nll      functions['sample'], ['token_log_probs']: NLL-oracle of G's samples and
                  NLL of held-out oracle data under G (metrics/oracle.py)
  bleu            functions['sample']: BLEU-2..5 against held-out text and Self-BLEU
                  (metrics/bleu.py, nltk)
  translation     functions['translate_a_to_b'] (and ['translate_b_to_a']): class kept and
                  cycle error (unpaired digits), L1 / PSNR / SSIM (pairs), FID with Inception
                  weights, against the untranslated input (metrics/translation.py)
  inpainting      functions['inpaint']: L1 / L2 / PSNR / SSIM over the image and inside the
                  hole, total variation, against mean-colour fill and biharmonic inpainting
                  on the same fixed-seed holes (metrics/inpainting.py)
  efficiency      functions['sample'], ['generator_variables']: parameters, bytes, MACs from
                  XLA's cost analysis, latency per image (metrics/efficiency.py)

  EVALUATORS.get(name).validate_config(config)       # the evaluator's own fields
  make_evaluators(config, source, functions, mesh)   -> evaluate(state, step) -> {name: float}
  load_digit_classifier(data_dir)                    -> the digit feature network (cached)

An evaluator is a class `(config, source, functions, mesh)` with `__call__(state, step)`,
`describe()` (what it compares) and `reference_points()` ({point: {metric: value}}, may be {}).
See docs/evaluation.md for what each number means and the reference points that frame it.
"""
from typing import Dict

from jaxgan.registry import Registry

EVALUATORS = Registry('evaluator')

from jaxgan.metrics.digits import ClassifierSettings, DigitClassifier, load_digit_classifier  # noqa: E402,F401
from jaxgan.metrics.evaluator import Evaluator, make_feature_net  # noqa: E402,F401
from jaxgan.metrics import likelihood  # noqa: E402,F401  (registers 'likelihood')
from jaxgan.metrics import oracle  # noqa: E402,F401  (registers 'oracle_nll')
from jaxgan.metrics import bleu  # noqa: E402,F401  (registers 'bleu')
from jaxgan.metrics import translation  # noqa: E402,F401  (registers 'translation')
from jaxgan.metrics import efficiency  # noqa: E402,F401  (registers 'efficiency')
from jaxgan.metrics import inpainting  # noqa: E402,F401  (registers 'inpainting')


class Evaluators:
  """The evaluators `config.eval.metrics` names, called in order; their results merged."""

  def __init__(self, evaluators):
    self.evaluators = evaluators

  def __call__(self, state, step=None) -> Dict[str, float]:
    results = {}
    for evaluator in self.evaluators:
      results.update(evaluator(state, step))
    return results

  def describe(self) -> Dict[str, object]:
    info = {}
    for evaluator in self.evaluators:
      info.update(evaluator.describe())
    return info

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    points: Dict[str, Dict[str, float]] = {}
    for evaluator in self.evaluators:
      for point, values in evaluator.reference_points().items():
        points.setdefault(point, {}).update(values)
    return points


def make_evaluators(config, source, functions, mesh) -> Evaluators:
  return Evaluators([EVALUATORS.get(name, 'eval.metrics')(config, source, functions, mesh)
                     for name in config.eval.metrics])
