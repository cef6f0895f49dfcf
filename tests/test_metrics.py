"""Evaluation: the metrics against closed forms, the digit network, InceptionV3, the evaluator."""
import dataclasses
import json
import os
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxgan.errors import ConfigError
from jaxgan.metrics import digits, evaluator as evaluator_lib, inception, scores
from tests.conftest import ROOT, tiny_dcgan


# --------------------------------------------------------------------------------------------
# Frechet distance

def _closed_form_diagonal(mu1, var1, mu2, var2):
  # Commuting covariances: Tr((S1 S2)^1/2) = sum sqrt(a_i b_i).
  return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2))


def test_frechet_distance_matches_the_closed_form_between_gaussians():
  rng = np.random.default_rng(0)
  d = 6
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  var1, var2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
  expected = _closed_form_diagonal(mu1, var1, mu2, var2)
  assert scores.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)
  # A common rotation changes neither the distance nor the closed form.
  q, _ = np.linalg.qr(rng.normal(size=(d, d)))
  rotated = scores.frechet_distance(q @ mu1, q @ np.diag(var1) @ q.T, q @ mu2, q @ np.diag(var2) @ q.T)
  assert rotated == pytest.approx(expected, rel=1e-9)
  # 1-D: (m1 - m2)^2 + (s1 - s2)^2.
  assert scores.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0)
  # Equal covariances: only the means count.
  assert scores.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var1)) == pytest.approx(
      np.sum((mu1 - mu2) ** 2), rel=1e-10)


def test_frechet_distance_with_non_commuting_covariances_agrees_with_sqrtm_and_is_symmetric():
  rng = np.random.default_rng(1)
  d = 5
  a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
  cov1, cov2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  covmean = scipy.linalg.sqrtm(cov1 @ cov2).real
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * covmean)
  assert scores.frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(expected, rel=1e-8)
  assert scores.frechet_distance(mu2, cov2, mu1, cov1) == pytest.approx(expected, rel=1e-8)
  assert scores.frechet_distance(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_converges_to_the_closed_form():
  rng = np.random.default_rng(2)
  n, d = 200_000, 3
  mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 0.0])
  sd1, sd2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
  x = mu1 + sd1 * rng.standard_normal((n, d))
  y = mu2 + sd2 * rng.standard_normal((n, d))
  expected = _closed_form_diagonal(mu1, sd1 ** 2, mu2, sd2 ** 2)  # 1.25 + 0.25 + 1.0 = 2.5
  assert scores.frechet_distance_of(x, y) == pytest.approx(expected, abs=0.03)


# --------------------------------------------------------------------------------------------
# KID

def test_kid_of_identical_and_same_distribution_sets_is_near_zero():
  rng = np.random.default_rng(3)
  m = 400
  x = rng.normal(size=(m, 16))
  # Identical sets: the U-statistic is exactly (2/m)(mean off-diagonal k - mean diagonal k),
  # a small negative number that vanishes as 1/m.
  same, _ = scores.kid(x, x, num_subsets=3, subset_size=m)
  k = (x @ x.T / 16 + 1) ** 3
  mean_diag, mean_off = np.trace(k) / m, (k.sum() - np.trace(k)) / (m * (m - 1))
  assert same == pytest.approx(2 / m * (mean_off - mean_diag), rel=1e-4)
  # Independent draws from one distribution: zero within the error bar.
  other, other_std = scores.kid(x, rng.normal(size=(m, 16)), num_subsets=50, subset_size=200)
  assert abs(other) < 3 * other_std
  shifted, _ = scores.kid(x, rng.normal(size=(m, 16)) + 0.5, num_subsets=50, subset_size=200)
  assert shifted > 10 * other_std and shifted > 20 * abs(same)


def test_kid_is_unbiased_against_the_true_mmd_of_two_known_distributions():
  # Two distributions on a few points, so the true MMD^2 is an exact finite sum.
  rng = np.random.default_rng(4)
  points_p, points_q = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 0.3
  p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
  k = lambda a, b: np.asarray(scores.polynomial_kernel(jnp.asarray(a), jnp.asarray(b)), np.float64)
  true_mmd2 = p @ k(points_p, points_p) @ p + q @ k(points_q, points_q) @ q - 2 * p @ k(points_p, points_q) @ q

  m, draws = 8, 20_000  # small sets: the biased (V-statistic) estimate is far off here
  keys = jax.random.split(jax.random.PRNGKey(0), draws)

  def estimates(key):
    kx, ky = jax.random.split(key)
    x = jnp.asarray(points_p, jnp.float32)[jax.random.choice(kx, 5, (m,), p=jnp.asarray(p))]
    y = jnp.asarray(points_q, jnp.float32)[jax.random.choice(ky, 5, (m,), p=jnp.asarray(q))]
    biased = (scores.polynomial_kernel(x, x).mean() + scores.polynomial_kernel(y, y).mean()
              - 2 * scores.polynomial_kernel(x, y).mean())
    return scores.mmd2_unbiased(x, y), biased

  unbiased, biased = map(np.asarray, jax.jit(jax.vmap(estimates))(keys))
  sem = unbiased.std() / np.sqrt(draws)
  assert abs(unbiased.mean() - true_mmd2) < 4 * sem
  assert abs(biased.mean() - true_mmd2) > 20 * sem  # the check can tell unbiased from biased


def test_kid_uses_subsets_no_larger_than_the_smaller_set():
  rng = np.random.default_rng(5)
  value, std = scores.kid(rng.normal(size=(30, 4)), rng.normal(size=(500, 4)), num_subsets=10)
  assert np.isfinite(value) and np.isfinite(std) and std > 0


# --------------------------------------------------------------------------------------------
# Precision and recall

def test_precision_recall_of_identical_and_disjoint_sets():
  rng = np.random.default_rng(6)
  x = rng.normal(size=(300, 8))
  assert scores.precision_recall(x, x) == (1.0, 1.0)
  assert scores.precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_precision_recall_see_mode_dropping_and_garbage():
  rng = np.random.default_rng(7)
  blob = lambda center, n: center + 0.3 * rng.normal(size=(n, 2))
  a, b = np.array([0.0, 0.0]), np.array([20.0, 0.0])
  real = np.concatenate([blob(a, 200), blob(b, 200)])
  # A generator that drops mode b: precise, but recalls only half.
  precision, recall = scores.precision_recall(real, blob(a, 400))
  assert precision > 0.9 and 0.4 < recall <= 0.5
  # Half of the samples are garbage far away: precision exactly one half for those in the data.
  fake = np.concatenate([real[::2], np.full((200, 2), 1000.0) + rng.normal(size=(200, 2))])
  precision, _ = scores.precision_recall(real, fake)
  assert precision == 0.5


def test_density_and_coverage_closed_forms_and_an_outlier_that_fools_precision():
  rng = np.random.default_rng(12)
  x = rng.normal(size=(300, 8))
  k = 5
  # Identical sets: each real ball holds its centre and its k neighbours, so density is (k+1)/k.
  density, coverage = scores.density_coverage(x, x, k)
  assert density == pytest.approx((k + 1) / k) and coverage == 1.0
  assert scores.density_coverage(x, x + 100.0, k) == (0.0, 0.0)
  # A tight cluster plus one far outlier, whose k-NN ball is huge. Garbage parked next to the
  # outlier is "precise" by Kynkaanniemi et al., but density and coverage see through it.
  real = np.concatenate([0.1 * rng.normal(size=(199, 2)), [[50.0, 0.0]]])
  garbage = np.array([45.0, 0.0]) + 0.1 * rng.normal(size=(200, 2))
  precision, recall = scores.precision_recall(real, garbage, 3)
  density, coverage = scores.density_coverage(real, garbage, k)
  assert precision == 1.0 and recall < 0.05
  assert density == pytest.approx(1 / k) and coverage == pytest.approx(1 / 200)


def test_chunked_precision_recall_uses_equal_sizes():
  rng = np.random.default_rng(8)
  real = rng.normal(size=(100, 4))
  fake = np.concatenate([real, real + 100.0])  # two chunks: a perfect one and a disjoint one
  assert evaluator_lib.chunked_precision_recall(real, fake, 3) == (0.5, 0.5)
  assert evaluator_lib.chunked_density_coverage(real, fake, 5) == pytest.approx((0.6, 0.5))
  # Fewer fakes than reals: the real set is chunked instead.
  assert evaluator_lib.chunked_precision_recall(fake, real, 3) == (0.5, 0.5)


# --------------------------------------------------------------------------------------------
# Class predictions

def test_class_coverage_and_kl_of_a_known_histogram():
  labels = np.array([0] * 50 + [1] * 50)
  counts = scores.class_histogram(labels, 10)
  assert counts.tolist() == [50, 50] + [0] * 8
  assert scores.modes_covered(counts) == 2
  assert scores.kl_to_uniform(counts) == pytest.approx(np.log(5.0))
  balanced = scores.class_histogram(np.arange(1000) % 10, 10)
  assert scores.modes_covered(balanced) == 10 and scores.kl_to_uniform(balanced) == pytest.approx(0.0)
  assert scores.modes_covered([5, 1, 0], min_count=2) == 1


def test_inception_score_of_confident_predictions():
  confident = np.eye(10)[np.arange(1000) % 10] * 50.0  # sharp and balanced: the maximum
  assert scores.inception_score(confident) == pytest.approx(10.0, rel=1e-6)
  assert scores.inception_score(np.eye(10)[np.zeros(100, int)] * 50.0) == pytest.approx(1.0)
  assert scores.inception_score(np.zeros((100, 10))) == pytest.approx(1.0)  # unsure: no score


def test_stacked_mnist_modes_and_kl():
  triples = np.array([[d // 100, d // 10 % 10, d % 10] for d in range(1000)])
  full = scores.stacked_modes(np.repeat(triples, 3, axis=0))
  assert full == {'stacked_modes': 1000.0, 'stacked_kl': pytest.approx(0.0), 'stacked_num_samples': 3000.0}
  half = scores.stacked_modes(triples[:500])
  assert half['stacked_modes'] == 500 and half['stacked_kl'] == pytest.approx(np.log(2.0))


# --------------------------------------------------------------------------------------------
# The digit feature network

# A classifier small enough to train in seconds (one compilation shared by the tests below).
TINY_CLASSIFIER = digits.ClassifierSettings(epochs=1, batch_size=64, num_train=256, widths=(8, 16),
                                            feature_dim=16)


def test_digit_classifier_training_is_deterministic_by_seed(data_dir):
  train_x, train_y, _, _ = digits.load_offline_digits(data_dir)
  settings = TINY_CLASSIFIER
  first = digits.train_classifier(train_x[:256], train_y[:256], settings)
  again = digits.train_classifier(train_x[:256], train_y[:256], settings)
  other = digits.train_classifier(train_x[:256], train_y[:256], dataclasses.replace(settings, seed=1))
  leaves = lambda t: jax.tree.leaves(t)
  assert all(np.array_equal(a, b) for a, b in zip(leaves(first), leaves(again)))
  assert not all(np.array_equal(a, b) for a, b in zip(leaves(first), leaves(other)))


def test_digit_classifier_is_cached_and_reloaded(data_dir, tmp_path):
  settings = TINY_CLASSIFIER
  trained = digits.load_digit_classifier(data_dir, settings, cache=str(tmp_path), verbose=False)
  files = [f for f in os.listdir(tmp_path) if f.endswith('.npz')]
  assert len(files) == 1
  digits._LOADED.clear()  # as a new process would
  reloaded = digits.load_digit_classifier(data_dir, settings, cache=str(tmp_path), verbose=False)
  assert reloaded is not trained and reloaded.test_accuracy == trained.test_accuracy
  x = np.zeros((3, 28, 28, 1), np.uint8)
  assert np.array_equal(trained.features_and_logits(x)[1], reloaded.features_and_logits(x)[1])


@pytest.fixture(scope='module')
def classifier(data_dir):
  """The default digit network (trained once per machine, about a minute; then cached)."""
  return digits.load_digit_classifier(data_dir)


def test_default_digit_classifier_reaches_97_percent_on_held_out_digits(classifier, data_dir):
  assert classifier.test_accuracy >= 0.97
  _, _, test_x, test_y = digits.load_offline_digits(data_dir)
  assert digits.accuracy(classifier, test_x, test_y) == pytest.approx(classifier.test_accuracy)


def test_stacked_digits_are_classified_per_channel(classifier, data_dir):
  _, _, test_x, test_y = digits.load_offline_digits(data_dir)
  rng = np.random.default_rng(9)
  picks = rng.integers(0, len(test_x), (600, 3))
  stacked = np.concatenate([test_x[picks[:, c]] for c in range(3)], axis=-1)  # [600, 28, 28, 3]
  net = evaluator_lib.DigitFeatures(classifier, channels=3)
  features, logits = jax.jit(net.apply)(jnp.asarray(stacked, jnp.float32) / 127.5 - 1.0)
  assert features.shape == (600, 3 * classifier.feature_dim) and logits.shape == (600, 3, 10)
  single_features, _ = classifier.features_and_logits(test_x[picks[:, 1]])
  np.testing.assert_allclose(np.asarray(features)[:, classifier.feature_dim:2 * classifier.feature_dim],
                             single_features, rtol=1e-5, atol=1e-5)
  modes_right = (np.asarray(logits).argmax(-1) == test_y[picks]).all(axis=1).mean()
  assert modes_right > 0.9

  # 32x32 digits: padded ones are cropped back exactly, resized ones resized back.
  padded = np.pad(stacked, ((0, 0), (2, 2), (2, 2), (0, 0)))
  unit = lambda x: jnp.asarray(x, jnp.float32) / 127.5 - 1.0
  cropped, _ = jax.jit(evaluator_lib.DigitFeatures(classifier, 3, padded=True).apply)(unit(padded))
  np.testing.assert_array_equal(np.asarray(cropped), np.asarray(features))
  _, resized_logits = jax.jit(net.apply)(unit(padded))
  assert (np.asarray(resized_logits).argmax(-1) == test_y[picks]).all(axis=1).mean() > 0.5


# --------------------------------------------------------------------------------------------
# InceptionV3 with weights from a file

@pytest.fixture(scope='module')
def random_inception(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('inception') / 'random_fid_inception.npz')
  np.savez(path, **inception.random_weights(0))
  net = inception.InceptionFeatures.from_file(path)
  return path, net, jax.jit(net.apply)


def test_inception_weights_round_trip_through_pytorch_names():
  state_dict = inception.random_weights(1)
  back = inception.state_dict_from_variables(inception.variables_from_state_dict(state_dict))
  assert sorted(back) == sorted(state_dict)
  assert all(np.array_equal(back[k], state_dict[k]) for k in state_dict)
  assert state_dict['Conv2d_1a_3x3.conv.weight'].shape == (32, 3, 3, 3)  # PyTorch OIHW
  assert state_dict['fc.weight'].shape == (1008, 2048)


def test_inception_shapes_and_determinism_with_random_weights(random_inception):
  _, _, apply = random_inception
  rng = np.random.default_rng(10)
  images = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)  # resized to 299
  features, logits = apply(images)
  assert features.shape == (2, inception.FEATURE_DIM) and logits.shape == (2, inception.NUM_CLASSES)
  assert np.all(np.isfinite(features)) and float(jnp.std(features)) > 1e-3
  again, _ = apply(images)
  assert np.array_equal(np.asarray(features), np.asarray(again))
  other, _ = apply(images[::-1])
  np.testing.assert_allclose(np.asarray(other), np.asarray(features)[::-1], rtol=1e-5, atol=1e-6)
  assert not np.allclose(np.asarray(features[0]), np.asarray(features[1]))


def test_inception_matches_a_pytorch_fid_inception_with_the_same_weights(random_inception):
  torch = pytest.importorskip('torch')
  path, _, apply = random_inception
  model = _torch_fid_inception(torch)
  with np.load(path) as archive:
    model.load_state_dict({k: torch.from_numpy(archive[k]) for k in archive.files}, strict=False)
  model.eval()
  images = np.random.default_rng(11).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  with torch.no_grad():
    expected_features, expected_logits = model(torch.from_numpy(images).permute(0, 3, 1, 2))
  features, logits = apply(jnp.asarray(images))
  scale = float(expected_features.abs().max())
  np.testing.assert_allclose(np.asarray(features), expected_features.numpy(), atol=1e-5 * scale)
  np.testing.assert_allclose(np.asarray(logits), expected_logits.numpy(),
                             atol=1e-5 * float(expected_logits.abs().max()))


def test_inception_weights_that_do_not_fit_are_reported(tmp_path):
  bad = str(tmp_path / 'bad.npz')
  state_dict = inception.random_weights(0)
  state_dict['Mixed_5b.branch1x1.conv.weight'] = np.zeros((3, 3, 1, 1), np.float32)
  np.savez(bad, **state_dict)
  with pytest.raises(ValueError, match='Mixed_5b.branch1x1.conv.weight has shape'):
    inception.load_weights(bad)
  partial = str(tmp_path / 'partial.npz')
  np.savez(partial, **{'fc.weight': state_dict['fc.weight']})
  with pytest.raises(ValueError, match='lacks'):
    inception.load_weights(partial)


def _torch_fid_inception(torch):
  """pytorch-fid's FID InceptionV3 (torchvision's layout with the FID patches), written out."""
  nn, F = torch.nn, torch.nn.functional

  class Conv(nn.Module):
    def __init__(self, cin, cout, **kw):
      super().__init__()
      self.conv, self.bn = nn.Conv2d(cin, cout, bias=False, **kw), nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
      return F.relu(self.bn(self.conv(x)))

  def avg(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)

  def block(spec, forward):
    module = nn.Module()
    for name, args in spec.items():
      setattr(module, name, Conv(*args[:2], **args[2]))
    module.forward = types.MethodType(forward, module)
    return module

  def a(cin, pool):
    return block({'branch1x1': (cin, 64, dict(kernel_size=1)), 'branch5x5_1': (cin, 48, dict(kernel_size=1)),
                  'branch5x5_2': (48, 64, dict(kernel_size=5, padding=2)),
                  'branch3x3dbl_1': (cin, 64, dict(kernel_size=1)),
                  'branch3x3dbl_2': (64, 96, dict(kernel_size=3, padding=1)),
                  'branch3x3dbl_3': (96, 96, dict(kernel_size=3, padding=1)),
                  'branch_pool': (cin, pool, dict(kernel_size=1))},
                 lambda s, x: torch.cat([s.branch1x1(x), s.branch5x5_2(s.branch5x5_1(x)),
                                         s.branch3x3dbl_3(s.branch3x3dbl_2(s.branch3x3dbl_1(x))),
                                         s.branch_pool(avg(x))], 1))

  def c(c7):
    h, v = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
    spec = {'branch1x1': (768, 192, dict(kernel_size=1)), 'branch7x7_1': (768, c7, dict(kernel_size=1)),
            'branch7x7_2': (c7, c7, h), 'branch7x7_3': (c7, 192, v),
            'branch7x7dbl_1': (768, c7, dict(kernel_size=1)), 'branch7x7dbl_2': (c7, c7, v),
            'branch7x7dbl_3': (c7, c7, h), 'branch7x7dbl_4': (c7, c7, v), 'branch7x7dbl_5': (c7, 192, h),
            'branch_pool': (768, 192, dict(kernel_size=1))}

    def forward(s, x):
      d = s.branch7x7dbl_1(x)
      for i in range(2, 6):
        d = getattr(s, f'branch7x7dbl_{i}')(d)
      return torch.cat([s.branch1x1(x), s.branch7x7_3(s.branch7x7_2(s.branch7x7_1(x))), d,
                        s.branch_pool(avg(x))], 1)
    return block(spec, forward)

  def e(cin, pool):
    h, v = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
    spec = {'branch1x1': (cin, 320, dict(kernel_size=1)), 'branch3x3_1': (cin, 384, dict(kernel_size=1)),
            'branch3x3_2a': (384, 384, h), 'branch3x3_2b': (384, 384, v),
            'branch3x3dbl_1': (cin, 448, dict(kernel_size=1)),
            'branch3x3dbl_2': (448, 384, dict(kernel_size=3, padding=1)),
            'branch3x3dbl_3a': (384, 384, h), 'branch3x3dbl_3b': (384, 384, v),
            'branch_pool': (cin, 192, dict(kernel_size=1))}

    def forward(s, x):
      b3 = s.branch3x3_1(x)
      d = s.branch3x3dbl_2(s.branch3x3dbl_1(x))
      pooled = avg(x) if pool == 'avg' else F.max_pool2d(x, 3, 1, 1)
      return torch.cat([s.branch1x1(x), s.branch3x3_2a(b3), s.branch3x3_2b(b3),
                        s.branch3x3dbl_3a(d), s.branch3x3dbl_3b(d), s.branch_pool(pooled)], 1)
    return block(spec, forward)

  model = nn.Module()
  stem = [('Conv2d_1a_3x3', (3, 32, dict(kernel_size=3, stride=2))), ('Conv2d_2a_3x3', (32, 32, dict(kernel_size=3))),
          ('Conv2d_2b_3x3', (32, 64, dict(kernel_size=3, padding=1))), ('Conv2d_3b_1x1', (64, 80, dict(kernel_size=1))),
          ('Conv2d_4a_3x3', (80, 192, dict(kernel_size=3)))]
  for name, args in stem:
    setattr(model, name, Conv(*args[:2], **args[2]))
  model.Mixed_5b, model.Mixed_5c, model.Mixed_5d = a(192, 32), a(256, 64), a(288, 64)
  model.Mixed_6a = block({'branch3x3': (288, 384, dict(kernel_size=3, stride=2)),
                          'branch3x3dbl_1': (288, 64, dict(kernel_size=1)),
                          'branch3x3dbl_2': (64, 96, dict(kernel_size=3, padding=1)),
                          'branch3x3dbl_3': (96, 96, dict(kernel_size=3, stride=2))},
                         lambda s, x: torch.cat([s.branch3x3(x), s.branch3x3dbl_3(s.branch3x3dbl_2(
                             s.branch3x3dbl_1(x))), F.max_pool2d(x, 3, 2)], 1))
  model.Mixed_6b, model.Mixed_6c, model.Mixed_6d, model.Mixed_6e = c(128), c(160), c(160), c(192)
  model.Mixed_7a = block({'branch3x3_1': (768, 192, dict(kernel_size=1)),
                          'branch3x3_2': (192, 320, dict(kernel_size=3, stride=2)),
                          'branch7x7x3_1': (768, 192, dict(kernel_size=1)),
                          'branch7x7x3_2': (192, 192, dict(kernel_size=(1, 7), padding=(0, 3))),
                          'branch7x7x3_3': (192, 192, dict(kernel_size=(7, 1), padding=(3, 0))),
                          'branch7x7x3_4': (192, 192, dict(kernel_size=3, stride=2))},
                         lambda s, x: torch.cat([s.branch3x3_2(s.branch3x3_1(x)), s.branch7x7x3_4(
                             s.branch7x7x3_3(s.branch7x7x3_2(s.branch7x7x3_1(x)))), F.max_pool2d(x, 3, 2)], 1))
  model.Mixed_7b, model.Mixed_7c = e(1280, 'avg'), e(2048, 'max')
  model.fc = nn.Linear(2048, 1008)

  def forward(s, x):
    x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)  # pytorch-fid
    x = F.max_pool2d(s.Conv2d_2b_3x3(s.Conv2d_2a_3x3(s.Conv2d_1a_3x3(x))), 3, 2)
    x = F.max_pool2d(s.Conv2d_4a_3x3(s.Conv2d_3b_1x1(x)), 3, 2)
    for name in ('5b', '5c', '5d', '6a', '6b', '6c', '6d', '6e', '7a', '7b', '7c'):
      x = getattr(s, f'Mixed_{name}')(x)
    features = x.mean(dim=(2, 3))
    return features, s.fc(features)
  model.forward = types.MethodType(forward, model)
  return model


# --------------------------------------------------------------------------------------------
# The evaluator

def test_a_dataset_that_is_not_digits_needs_inception_weights(tmp_path):
  from configs import dcgan
  config = dcgan.get_config()
  dataset = types.SimpleNamespace(name='cifar10', info=types.SimpleNamespace(image_shape=(32, 32, 3)))
  with pytest.raises(ConfigError, match='needs InceptionV3 weights.*eval.inception_weights'):
    evaluator_lib.make_feature_net(config, dataset)
  config.eval.inception_weights = str(tmp_path / 'missing.npz')
  with pytest.raises(ConfigError, match='does not exist'):
    evaluator_lib.make_feature_net(config, dataset)
  config.eval.feature_net = 'digits'   # the digit network reads square images of 28 or more
  small = types.SimpleNamespace(name='svhn_small', info=types.SimpleNamespace(image_shape=(16, 16, 3)))
  with pytest.raises(ConfigError, match='needs square images of 28x28 or more'):
    evaluator_lib.make_feature_net(config, small)
  points = types.SimpleNamespace(name='ring8', info=types.SimpleNamespace(image_shape=(2,)))
  with pytest.raises(ConfigError, match='eval.every_steps=0'):
    evaluator_lib.make_feature_net(config, points)


def test_evaluator_end_to_end_in_training_and_on_the_saved_run(classifier, data_dir, tmp_path):
  from jaxgan import train
  config = tiny_dcgan(data_dir, num_steps=4, checkpoint_every_steps=4, sample_every_steps=4)
  config.eval.every_steps = 2
  config.eval.num_samples = 96
  workdir = str(tmp_path / 'run')
  train.run(config, workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  evals = {r['step']: r for r in records if 'fd_digits' in r}
  assert sorted(evals) == [2, 4]
  for name in ('fd_digits', 'kid', 'kid_std', 'precision', 'recall', 'density', 'coverage',
               'is_digits', 'class_kl', 'classes_covered'):
    assert np.isfinite(evals[4][name]), name
  # Reference points come once, with the first evaluation, and read as they should.
  assert 'floor/fd_digits' in evals[2] and 'floor/fd_digits' not in evals[4]
  ref = evals[2]
  assert ref['floor/fd_digits'] < ref['blur/fd_digits'] < ref['noise/fd_digits']
  assert ref['floor/classes_covered'] == 10 and ref['floor/precision'] > 0.8
  assert ref['noise/recall'] < 0.05 and ref['noise/precision'] < ref['floor/precision'] - 0.3
  assert ref['floor/num_samples'] == 96

  # The CLI restores the last checkpoint and, with the same fixed noise, gets the same numbers.
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, '-m', 'jaxgan.evaluate', f'--workdir={workdir}'],
                          cwd=ROOT, env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(workdir, 'eval', 'step_4.json')) as f:
    saved = json.load(f)
  for name in ('fd_digits', 'kid', 'precision', 'recall', 'classes_covered'):
    assert saved['metrics'][name] == pytest.approx(evals[4][name], rel=1e-5, abs=1e-6), name
  assert saved['references']['floor']['fd_digits'] == pytest.approx(ref['floor/fd_digits'], rel=1e-5)
  assert 'fd_digits' in result.stdout and 'floor' in result.stdout


def test_evaluate_cli_says_what_is_missing(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'jaxgan.evaluate', f'--workdir={tmp_path}'],
                          cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                          capture_output=True, text=True)
  assert result.returncode == 2
  assert result.stderr.strip().startswith('error: ') and 'config.json' in result.stderr
