"""Evaluation that needs no downloads: sample quality on the project's own digit network, or on
InceptionV3 with user-supplied weights.

  make_evaluator(config, dataset, trainer, mesh)  -> evaluator(state, step) -> {name: float}
  load_digit_classifier(data_dir)                 -> the digit feature network (trained once, cached)
  scores.*                                        -> the metrics on features and predictions

See docs/evaluation.md for what each number means and the reference points that frame it.
"""
from jaxgan.metrics.digits import ClassifierSettings, DigitClassifier, load_digit_classifier  # noqa: F401
from jaxgan.metrics.evaluator import Evaluator, make_evaluator, make_feature_net  # noqa: F401
