"""The VAE family: its terms against closed forms, the likelihood bounds against quadrature,
and the run a user starts (previews, ELBO/IWAE in metrics.jsonl, exact resume)."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vae as vae_config
from jaxgan import objectives, train
from jaxgan.data import DatasetInfo
from jaxgan.trainers import make_trainer
from tests.conftest import ROOT, launch, read_checkpoint


def tiny_vae(image_shape=(28, 28, 1), latent_dim=4, **fields):
  config = vae_config.get_config()
  config.model.latent_dim = latent_dim
  config.model.hidden = (32,)
  config.model.features = 4
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  return config, make_trainer(config, DatasetInfo('test', image_shape, 0, 0))


def test_kl_term_equals_its_closed_form_per_dimension_and_by_quadrature():
  rng = np.random.default_rng(0)
  mean, log_var = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
  got = np.asarray(objectives.gaussian_kl(jnp.asarray(mean), jnp.asarray(log_var)))
  sigma = np.exp(0.5 * log_var)
  # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2) / 2 - 1/2, summed over dimensions.
  want = (np.log(1 / sigma) + (sigma ** 2 + mean ** 2) / 2 - 0.5).sum(-1)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # And by numerical integration of q log(q / p) for one example.
  z = np.linspace(-15, 15, 200_001)
  total = 0.0
  for m, s in zip(mean[0], sigma[0]):
    log_q = -0.5 * ((z - m) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))
    log_p = -0.5 * z ** 2 - 0.5 * np.log(2 * np.pi)
    total += np.trapezoid(np.exp(log_q) * (log_q - log_p), z)
  assert got[0] == pytest.approx(total, rel=1e-4)


def test_bernoulli_log_likelihood_is_minus_the_summed_bce():
  logits = jnp.array([[[[2.0], [-1.0]], [[0.5], [0.0]]]])   # [1, 2, 2, 1]
  x = jnp.array([[[[1.0], [0.0]], [[0.3], [1.0]]]])
  p = jax.nn.sigmoid(logits)
  want = jnp.sum(x * jnp.log(p) + (1 - x) * jnp.log(1 - p))
  assert float(objectives.bernoulli_log_likelihood(logits, x)[0]) == pytest.approx(float(want), rel=1e-6)


@pytest.mark.parametrize('mode', ['grey', 'dynamic', 'static'])
def test_data_modes_give_the_targets_they_promise(mode):
  _, trainer = tiny_vae(**{'vae.data_mode': mode})
  images = jnp.linspace(-1, 1, 2000).reshape(1, 2000, 1, 1)
  x = np.asarray(trainer.targets(images, jax.random.PRNGKey(0)))
  intensity = np.asarray((images + 1) / 2)
  if mode == 'grey':
    np.testing.assert_allclose(x, intensity, atol=1e-7)
  elif mode == 'static':
    np.testing.assert_array_equal(x, (intensity > 0.5).astype(np.float32))
  else:
    assert set(np.unique(x)) == {0.0, 1.0}
    assert abs(x.mean() - intensity.mean()) < 0.03   # Bernoulli(intensity)
    again = np.asarray(trainer.targets(images, jax.random.PRNGKey(1)))
    assert not np.array_equal(x, again)               # fresh per key


def _prototype_digits(n=32, flip=0.1, seed=0):
  """8x8 binary images: four patterns with 10% of pixels flipped, in [-1, 1]. The latent code
  has something to carry (which pattern), so the posterior is narrower than q."""
  checker = (np.indices((8, 8)).sum(0) % 2).astype(np.float32)
  triangle = np.tril(np.ones((8, 8), np.float32))
  patterns = np.stack([checker, 1 - checker, triangle, 1 - triangle])[..., None]
  rng = np.random.default_rng(seed)
  x = patterns[rng.integers(0, 4, n)]
  x = np.where(rng.random(x.shape) < flip, 1 - x, x)
  return jnp.asarray(2 * x - 1)


def _trained_tiny(latent_dim, steps=100):
  _, trainer = tiny_vae((8, 8, 1), latent_dim=latent_dim, **{'vae.data_mode': 'static'})
  images = _prototype_digits()
  batch = {'image': images[None]}
  state = trainer.init(jax.random.PRNGKey(1), batch)
  step = jax.jit(trainer.make_step())
  for i in range(steps):
    state, _ = step(state, batch, jax.random.PRNGKey(i))
  return trainer, state, images


def test_importance_weighted_bound_is_above_the_elbo_and_rises_with_k():
  trainer, state, images = _trained_tiny(latent_dim=2)
  key = jax.random.PRNGKey(7)
  elbo = float(jnp.mean(jax.jit(trainer.elbo)(state, images, key)))
  bound = jax.jit(trainer.log_likelihood, static_argnums=3)
  # Averaged over examples and over 20 keys, so the comparison is of expectations.
  means = [np.mean([float(jnp.mean(bound(state, images, jax.random.fold_in(key, r), k)))
                    for r in range(20)]) for k in (1, 5, 50, 500)]
  assert means[0] == pytest.approx(elbo, abs=0.5)          # k = 1 estimates the ELBO
  assert all(b >= a - 1e-3 for a, b in zip(means, means[1:])), means
  assert means[-1] > elbo + 0.1, (means, elbo)             # and the bound really tightens


def test_importance_weighted_bound_approaches_log_p_by_quadrature_for_a_1d_latent():
  trainer, state, images = _trained_tiny(latent_dim=1)
  images = images[:4]
  x = trainer.targets(images, jax.random.PRNGKey(0))
  # log p(x) = log integral p(x | z) N(z; 0, 1) dz, on a fine grid of z.
  z = jnp.linspace(-12.0, 12.0, 24_001)[:, None]
  logits = jax.jit(lambda z: trainer._apply(state.vae.params, z, method=trainer.module.decode))(z)
  log_px_z = jax.vmap(lambda xi: objectives.bernoulli_log_likelihood(
      logits, jnp.broadcast_to(xi, logits.shape)))(x)                  # [examples, grid]
  log_prior = objectives.standard_normal_log_density(z)
  dz = float(z[1, 0] - z[0, 0])
  exact = np.asarray(jax.nn.logsumexp(log_px_z + log_prior, axis=1) + np.log(dz))
  bound = jax.jit(trainer.log_likelihood, static_argnums=3)
  for k, tolerance in ((5000, 0.05),):
    estimate = np.asarray(bound(state, images, jax.random.PRNGKey(3), k))
    np.testing.assert_allclose(estimate, exact, atol=tolerance)
    assert np.all(estimate <= exact + tolerance)
  # With one sample the estimate is visibly below (the gap IWAE closes).
  one = np.mean([np.asarray(bound(state, images, jax.random.PRNGKey(r), 1)) for r in range(50)], 0)
  assert np.mean(exact - one) > 0.01


def _vae_args(data_dir, workdir, *extra):
  return ['--config=configs/vae.py', f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
          '--config.model.hidden=(64,)', '--config.model.latent_dim=2',
          '--config.train.batch_size=32', '--config.train.num_steps=40',
          '--config.train.log_every_steps=10', '--config.train.sample_every_steps=20',
          '--config.train.checkpoint_every_steps=20', '--config.train.progress_bar=no',
          '--config.train.grid_size=16', '--config.eval.every_steps=20',
          '--config.eval.likelihood_samples=(1, 20)', '--config.eval.likelihood_examples=60',
          '--config.vae.data_mode=dynamic', *extra]


def test_vae_run_writes_previews_and_held_out_bounds_and_evaluate_reproduces_them(data_dir, tmp_path):
  workdir = tmp_path / 'vae'
  result = launch(_vae_args(data_dir, workdir))
  assert result.returncode == 0, result.stderr[-2000:]
  samples = sorted(os.listdir(workdir / 'samples'))
  for name in ('step_40.png', 'reconstructions_step_40.png', 'interpolations_step_40.png',
               'manifold_step_40.png'):
    assert name in samples, samples
  records = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
  evals = [r for r in records if 'iwae_k20' in r]
  assert [r['step'] for r in evals] == [20, 40]
  for r in evals:
    assert r['iwae_k20'] >= r['iwae_k1'] - 0.5 and r['elbo'] < 0
  assert evals[1]['elbo'] > evals[0]['elbo']                 # it learns
  train_elbo = [r['elbo'] for r in records if 'loss' in r]
  assert train_elbo[-1] > train_elbo[0]
  evaluated = subprocess.run([sys.executable, '-m', 'jaxgan.evaluate', f'--workdir={workdir}'],
                             cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                             capture_output=True, text=True)
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  report = json.load(open(workdir / 'eval' / 'step_40.json'))
  assert report['metrics'] == {k: evals[1][k] for k in ('elbo', 'iwae_k1', 'iwae_k20')}


def test_vae_resume_ends_bit_exact(data_dir, tmp_path):
  config, _ = tiny_vae(**{'vae.data_mode': 'dynamic'})
  config.data.data_dir = data_dir
  config.train.batch_size = 16
  config.train.num_steps = 6
  config.train.checkpoint_every_steps = 3
  config.train.sample_every_steps = 0
  config.train.log_every_steps = 3
  config.train.progress_bar = 'no'
  train.run(config, str(tmp_path / 'straight'))
  config.train.num_steps = 3
  train.run(config, str(tmp_path / 'resumed'))
  config.train.num_steps = 6
  train.run(config, str(tmp_path / 'resumed'))
  want = read_checkpoint(str(tmp_path / 'straight' / 'checkpoints'), 6)
  got = read_checkpoint(str(tmp_path / 'resumed' / 'checkpoints'), 6)
  assert want.keys() == got.keys() and len(want) > 4
  for name in want:
    assert np.array_equal(want[name], got[name]), name


def test_vae_config_errors_are_one_line(tmp_path):
  for field, value, message in (
      ('vae.data_mode', 'binary', 'vae.data_mode must be one of grey, dynamic, static'),
      ('model.vae', 'deep', 'model.vae must be one of conv, mlp'),
      ('eval.likelihood_samples', '(0,)', 'eval.likelihood_samples must be a non-empty tuple'),
      ('optim.schedule', 'cyclic', 'optim.schedule must be one of')):
    result = launch(['--config=configs/vae.py', f'--workdir={tmp_path / "x"}',
                     f'--config.{field}={value}'])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
  assert not os.path.exists(tmp_path / 'x' / 'checkpoints')
