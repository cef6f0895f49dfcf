"""Synthetic 2-D Gaussian mixtures for the mode-collapse benchmark (no files, no downloads).

  ring8:  8 modes evenly on a circle of radius 1, std 0.01 (PacGAN's 2-D ring).
  grid25: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (PacGAN's 2-D grid).

Modes are equally likely. `data.source = 'mixture'` and `data.name` selects one; the source
plugs into the training loop as "in memory": for train step s the compiled step draws its batches from
fold_in(key(seed), s), so runs are deterministic and resume exactly. A batch's 'image' is the
points [batches_per_step, B, 2] and 'label' the index of the mode each point came from.

`evaluate(points, name)` is the PacGAN/VEEGAN protocol: a sample is high quality when it lies
within 3 standard deviations of its nearest mode; a mode is captured when at least one
high-quality sample is nearest to it; the reverse KL is KL(p_gen || uniform) over the modes,
p_gen being the histogram of the high-quality samples (log K, its largest value, when there are
none).
"""
import dataclasses
import itertools
from typing import Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.data import SOURCES
from jaxgan.errors import DataError


def _ring(num_modes=8, radius=1.0):
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _grid():
  return np.array(list(itertools.product(range(-4, 5, 2), range(-4, 5, 2))), np.float64)


# name -> (means [K, 2], std, plot extent)
MIXTURES: Dict[str, Tuple[np.ndarray, float, float]] = {
    'ring8': (_ring(), 0.01, 1.5),
    'grid25': (_grid(), 0.05, 6.0),
}


@dataclasses.dataclass(frozen=True)
class MixtureInfo:
  name: str
  image_shape: Tuple[int, ...]   # (2,): samples are points
  num_classes: int               # the modes (labels are mode indices)
  num_train: int                 # 0: an endless stream
  plot_extent: float             # sample plots cover [-extent, extent]^2


def sample(key, means, std, n):
  """n points of the mixture and the mode each came from."""
  k_mode, k_noise = jax.random.split(key)
  modes = jax.random.randint(k_mode, (n,), 0, means.shape[0])
  points = means[modes] + std * jax.random.normal(k_noise, (n, 2), jnp.float32)
  return points, modes


@SOURCES.register('mixture')
class MixtureSource:
  """The 'mixture' data source: `data.name` is one of MIXTURES; batches are drawn inside the
  compiled step. Its eval arrays and preview batch are fixed draws (their own key)."""

  def __init__(self, config):
    name = config.data.name
    if name not in MIXTURES:
      raise DataError(f'unknown mixture {name!r} (data.name with data.source=mixture); choose '
                      f'one of {", ".join(MIXTURES)}')
    self.config = config
    self.name = name
    means, self.std, extent = MIXTURES[name]
    self.means = means.astype(np.float32)
    self.info = MixtureInfo(name, (2,), len(means), 0, extent)

  def example_batch(self, batches_per_step: int, batch_size=None):
    shape = (batches_per_step, batch_size or self.config.train.batch_size)
    return {'image': jnp.zeros(shape + (2,), jnp.float32), 'label': jnp.zeros(shape, jnp.int32)}

  def make_batches(self, mesh):
    return MixtureBatches(self, self.config.train.batch_size, self.config.seed, mesh)

  def eval_arrays(self, limit=None):
    n = 10_000 if limit is None else limit
    points, modes = sample(jax.random.PRNGKey(_EVAL_KEY), self.means, self.std, n)
    return {'image': np.asarray(points), 'label': np.asarray(modes, np.int32)}

  def preview_batch(self, n: int):
    return self.eval_arrays(n)


_EVAL_KEY = 0xE7A1


class MixtureBatches:
  """Fresh samples each step, drawn inside the compiled step."""

  in_memory = True

  def __init__(self, source: MixtureSource, batch_size: int, seed: int, mesh):
    self.batch_size = batch_size
    self.std = source.std
    self.mesh = mesh
    key = np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), 0x0DA7A))
    self.device_data = (parallel.replicate_host_array(source.means, mesh),
                        parallel.replicate_host_array(key, mesh))

  def batch_at(self, device_data, step, first_batch, count: int, batch_size=None):
    """Traceable: the `count` batches of `batch_size` points (None: train.batch_size) of
    train step `step`, drawn from fold_in(key, step). `device_data` holds the means and the
    stream's key, so a vmap over seeds can give each its own."""
    del first_batch
    means, key = device_data
    key = jax.random.fold_in(key, step)
    size = self.batch_size if batch_size is None else batch_size
    points, modes = sample(key, means, self.std, count * size)
    batch = {'image': points.reshape(count, size, 2),
             'label': modes.reshape(count, size).astype(jnp.int32)}
    sharding = parallel.batch_sharding(self.mesh, batch_axis=1)
    return jax.lax.with_sharding_constraint(batch, {'image': sharding, 'label': sharding})


def evaluate(points: np.ndarray, name: str, threshold: float = 3.0) -> Dict[str, float]:
  """PacGAN's metrics for samples `points` [N, 2] of mixture `name`."""
  means, std, _ = MIXTURES[name]
  points = np.asarray(points, np.float64)
  dist = np.sqrt(((points[:, None, :] - means[None]) ** 2).sum(-1)) / std   # in std units
  nearest = dist.argmin(1)
  good = dist[np.arange(len(points)), nearest] < threshold
  counts = np.bincount(nearest[good], minlength=len(means)).astype(np.float64)
  high_quality = counts.sum() / len(points)
  if counts.sum() > 0:
    p = counts / counts.sum()
    nz = p > 0
    reverse_kl = float((p[nz] * np.log(p[nz] * len(means))).sum())
  else:  # no high-quality sample: count it as total collapse, the largest value, log K
    reverse_kl = float(np.log(len(means)))
  return {'modes': int((counts > 0).sum()), 'high_quality': float(high_quality),
          'reverse_kl': reverse_kl, 'num_modes': len(means), 'num_samples': len(points)}
