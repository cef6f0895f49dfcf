"""Sample-quality scores on feature vectors and class predictions. Pure functions, no models.

- `frechet_distance`: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussian fits
  (FID when the features are Inception's pool3, FD-digits on the digit network's features).
- `kid`: Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 estimate with
  the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.
- `precision_recall`: improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls;
  `density_coverage` (Naeem et al. 2020): the same balls around real samples only, robust to
  the outliers whose huge balls can give garbage a precision of 1.
- `inception_score`, `class_histogram`, `kl_to_uniform`, `modes_covered`, `stacked_modes`:
  what the class predictions say about quality and mode coverage.

Heavy pairwise work (kernels, distances) is jit-compiled and blocked so memory stays bounded
for large sample counts; the small d x d matrix algebra of the Frechet distance runs in float64
on the host, where float32 eigendecompositions would lose distances near the floor.
"""
import functools
from typing import Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np


# --------------------------------------------------------------------------------------------
# Frechet distance

def gaussian_stats(features) -> Tuple[np.ndarray, np.ndarray]:
  """Mean and (unbiased, N-1) covariance of [N, d] features, in float64."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or len(x) < 2:
    raise ValueError(f'need [N >= 2, d] features, got shape {x.shape}')
  return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((matrix + matrix.T) / 2)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
  """Squared Frechet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2).

  Tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
  symmetric PSD matrix S1^(1/2) S2 S1^(1/2), which has the same spectrum as S1 S2; this avoids
  the complex parts and the eps-jitter that scipy.linalg.sqrtm needs on near-singular inputs.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
  root1 = _psd_sqrt(cov1)
  middle = root1 @ cov2 @ root1
  eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)


def frechet_distance_of(features_a, features_b) -> float:
  return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


# --------------------------------------------------------------------------------------------
# KID

def polynomial_kernel(x, y):
  """k(x, y) = (x.y / d + 1)^3, the KID kernel, for [n, d] and [m, d] -> [n, m]."""
  d = x.shape[-1]
  return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x, y):
  """Unbiased MMD^2 estimate (U-statistic) between samples x [m, d] and y [n, d]."""
  m, n = x.shape[0], y.shape[0]
  kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  sum_xx = kxx.sum() - jnp.trace(kxx)
  sum_yy = kyy.sum() - jnp.trace(kyy)
  return sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * kxy.mean()


@functools.partial(jax.jit, static_argnums=(3, 4))
def _kid_subsets(x, y, key, num_subsets: int, subset_size: int):
  def one(k):
    kx, ky = jax.random.split(k)
    xs = x[jax.random.permutation(kx, x.shape[0])[:subset_size]]
    ys = y[jax.random.permutation(ky, y.shape[0])[:subset_size]]
    return mmd2_unbiased(xs, ys)
  return jax.lax.map(one, jax.random.split(key, num_subsets))


def kid(features_a, features_b, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> Tuple[float, float]:
  """KID: mean and standard deviation of the unbiased MMD^2 over random subsets.

  Each subset draws min(subset_size, len(a), len(b)) samples without replacement from each
  set; each subset estimate is unbiased, so their mean is. The standard deviation over
  subsets is the usual error bar (Binkowski et al.; torch-fidelity's kid_std): the standard
  error of a KID computed from one subset of that size, a conservative bound for the mean.
  Float32 suffices: on digit features it agreed with float64 to 1e-5 of the standard deviation.
  """
  size = min(subset_size, len(features_a), len(features_b))
  if size < 2:
    raise ValueError('KID needs at least 2 samples on each side')
  values = np.asarray(_kid_subsets(jnp.asarray(features_a, jnp.float32),
                                   jnp.asarray(features_b, jnp.float32),
                                   jax.random.PRNGKey(seed), num_subsets, size), np.float64)
  return float(values.mean()), float(values.std(ddof=1) if num_subsets > 1 else 0.0)


# --------------------------------------------------------------------------------------------
# Precision and recall (Kynkaanniemi et al. 2019)

def _squared_distances(a, b):
  sq = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * a @ b.T
  return jnp.maximum(sq, 0.0)


def _blocks(x, block: int):
  """Pads [n, d] to a multiple of `block` rows and reshapes to [n_blocks, block, d]."""
  n = x.shape[0]
  pad = (-n) % block
  return jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, block, x.shape[1])


def _within(squared_distances, radii):
  # A point on a ball's boundary (the k-th neighbour itself) counts as inside. The same
  # distance computed in two differently shaped matmuls can round apart in float32, so the
  # boundary gets a relative slack far below the spacing of real neighbour distances.
  return squared_distances <= radii[None, :] * (1.0 + 1e-5)


@functools.partial(jax.jit, static_argnums=(1, 2))
def knn_radii(features, k: int, block: int = 1024):
  """Squared distance from each point to its k-th nearest other point in the same set."""
  n = features.shape[0]

  def one(rows):
    d = _squared_distances(rows, features)
    # The k+1 smallest include the point itself (distance 0).
    return -jax.lax.top_k(-d, k + 1)[0][:, k]
  return jax.lax.map(one, _blocks(features, block)).reshape(-1)[:n]


@functools.partial(jax.jit, static_argnums=(3,))
def _inside_any_ball(queries, centers, radii, block: int = 1024):
  """For each query: is it within the k-NN ball of at least one center?"""
  n = queries.shape[0]

  def one(rows):
    return _within(_squared_distances(rows, centers), radii).any(axis=1)
  return jax.lax.map(one, _blocks(queries, block)).reshape(-1)[:n]


def precision_recall(real, fake, k: int = 3) -> Tuple[float, float]:
  """Improved precision (fakes inside the real manifold) and recall (reals inside the fake one).

  Each manifold is the union of balls around its points with radius the distance to the
  k-th nearest neighbour. The paper uses equal sample counts; callers should too (the
  evaluator truncates the larger set), since radii shrink as a set grows.
  """
  real = jnp.asarray(real, jnp.float32)
  fake = jnp.asarray(fake, jnp.float32)
  if min(len(real), len(fake)) <= k:
    raise ValueError(f'precision/recall with k={k} needs more than {k} samples per set')
  precision = _inside_any_ball(fake, real, knn_radii(real, k)).mean()
  recall = _inside_any_ball(real, fake, knn_radii(fake, k)).mean()
  return float(precision), float(recall)


@functools.partial(jax.jit, static_argnums=(3,))
def _balls_containing(fake, real, radii, block: int = 1024):
  """Per fake: how many real k-NN balls contain it; per real: does its ball contain a fake."""
  n = fake.shape[0]
  valid = jnp.arange(_blocks(fake, block).shape[0] * block) < n

  def one(carry, inputs):
    rows, mask = inputs
    inside = _within(_squared_distances(rows, real), radii) & mask[:, None]
    return carry | inside.any(axis=0), inside.sum(axis=1)

  covered, counts = jax.lax.scan(one, jnp.zeros(real.shape[0], bool),
                                 (_blocks(fake, block), valid.reshape(-1, block)))
  return counts.reshape(-1)[:n], covered


def density_coverage(real, fake, k: int = 5) -> Tuple[float, float]:
  """Density and coverage (Naeem et al. 2020), k-NN balls around real samples only.

  Density: the average number of real balls holding a fake, over k (about 1 when fakes look
  like the data, above 1 when they crowd dense regions). Coverage: the share of real balls
  holding at least one fake. Unlike precision, one outlier's huge ball cannot make garbage
  look good: garbage inside a single ball scores density 1/k.
  """
  real = jnp.asarray(real, jnp.float32)
  fake = jnp.asarray(fake, jnp.float32)
  if len(real) <= k:
    raise ValueError(f'density/coverage with k={k} needs more than {k} real samples')
  counts, covered = _balls_containing(fake, real, knn_radii(real, k))
  return float(counts.mean() / k), float(covered.mean())


# --------------------------------------------------------------------------------------------
# Class predictions

def inception_score(logits) -> float:
  """exp(E_x KL(p(y|x) || p(y))), over all samples in one split (range 1..num_classes)."""
  logits = np.asarray(logits, np.float64)
  log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
  p = np.exp(log_p)
  log_marginal = np.log(np.clip(p.mean(axis=0), 1e-300, None))
  return float(np.exp(np.mean(np.sum(p * (log_p - log_marginal), axis=1))))


def class_histogram(labels, num_classes: int) -> np.ndarray:
  return np.bincount(np.asarray(labels).reshape(-1), minlength=num_classes)[:num_classes]


def kl_to_uniform(counts) -> float:
  """KL(p || uniform) in nats for a histogram of counts; 0 when balanced, log(K) at worst."""
  counts = np.asarray(counts, np.float64)
  p = counts / counts.sum()
  nonzero = p > 0
  return float(np.sum(p[nonzero] * np.log(p[nonzero] * len(p))))


def modes_covered(counts, min_count: int = 1) -> int:
  """Number of classes (modes) with at least `min_count` samples."""
  return int(np.sum(np.asarray(counts) >= min_count))


def stacked_modes(channel_labels) -> Dict[str, float]:
  """Stacked-MNIST (PacGAN/VEEGAN): [N, 3] digits per channel -> 1,000 modes.

  Returns the number of modes with at least one sample and the KL of the mode histogram to
  uniform over all 1,000 modes, with the sample count used.
  """
  labels = np.asarray(channel_labels)
  if labels.ndim != 2 or labels.shape[1] != 3:
    raise ValueError(f'stacked modes need [N, 3] digit labels, got {labels.shape}')
  modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
  counts = class_histogram(modes, 1000)
  return {'stacked_modes': float(modes_covered(counts)), 'stacked_kl': kl_to_uniform(counts),
          'stacked_num_samples': float(len(labels))}
