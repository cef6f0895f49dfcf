"""The variational autoencoder (Kingma & Welling 2014) on the shared loop: one phase, one net.

Loss per example: -(log p(x | z) - beta * KL(q(z | x) || p(z))) with z = mean + sigma * eps
(one reparameterised sample), a Bernoulli decoder on logits and the KL in closed form, summed
over pixels and latent dimensions; the batch loss is the mean over examples. (pytorch/examples
sums over the batch as well: a constant factor, so Adam's steps match up to its eps.)

What the decoder is asked to reproduce (`vae.data_mode`), from images in [-1, 1]:
  grey     pixel intensities in [0, 1] as Bernoulli targets: the PyTorch tutorial
  dynamic  a fresh binary sample x ~ Bernoulli(intensity) for every batch: IWAE's protocol
  static   fixed binary images: intensities thresholded at 0.5 (binarized_mnist's 0/1 pixels,
           read with data.pixel_max=1, pass through unchanged)
The encoder sees the same targets. Evaluation (functions 'elbo' and 'log_likelihood') always
uses beta = 1, so its numbers are bounds on log p(x) whatever beta trained.
"""
from typing import Any, Dict

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import objectives, optimizers
from jaxgan.architectures.vae import VAES, make_vae
from jaxgan.config_checks import choice, float_field, int_field, widths
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Trainer
from jaxgan.trainers.players import Player, apply_net, init_player, with_compute_dtype

DATA_MODES = ('grey', 'dynamic', 'static')
# Importance samples per chunk in log_likelihood (bounds memory for k = 5000).
_IW_CHUNK = 256


@flax.struct.dataclass
class VAEState:
  step: jax.Array
  vae: Player


def validate_vae_config(config) -> None:
  """The VAE family's fields (configs/vae_common.py)."""
  choice(config, 'model.vae', VAES.names())
  int_field(config, 'model.latent_dim', 1)
  widths(config, 'model.hidden')
  int_field(config, 'model.features', 1)
  choice(config, 'vae.data_mode', DATA_MODES)
  float_field(config, 'vae.beta', 0.0, 1e6, low_inclusive=True)
  optimizers.validate(config, ('lr',))


@TRAINERS.register('vae')
class VAETrainer(Trainer):

  validate_config = staticmethod(validate_vae_config)

  def __init__(self, config, data_info):
    self.config = config
    self.module = with_compute_dtype(make_vae(config.model, tuple(data_info.image_shape)),
                                     config.train.compute_dtype)
    self.latent_dim = int(config.model.latent_dim)
    self.beta = float(config.vae.beta)
    self.data_mode = config.vae.data_mode
    self.tx = make_optimizer(config.optim, config.optim.lr, config.train.num_steps)
    self.grid_size = int(config.train.grid_size)

  # -- data and nets --------------------------------------------------------------------------
  def targets(self, images, key):
    """Images in [-1, 1] -> what the decoder reproduces (see the module doc)."""
    intensity = (images + 1.0) * 0.5
    if self.data_mode == 'dynamic':
      return jax.random.bernoulli(key, intensity).astype(jnp.float32)
    if self.data_mode == 'static':
      return (intensity > 0.5).astype(jnp.float32)
    return intensity

  def _apply(self, params, *args, method):
    return apply_net(self.module, params, {}, *args, train=False, method=method)[0]

  def per_example_terms(self, params, x, eps):
    """(log p(x | z), KL) per example for one reparameterised sample z."""
    logits, mean, log_var = self._apply(params, x, eps, method=None)
    return (objectives.bernoulli_log_likelihood(logits, x),
            objectives.gaussian_kl(mean, log_var))

  # -- protocol -------------------------------------------------------------------------------
  def init(self, key, example_batch) -> VAEState:
    x = example_batch['image'][0, :2]
    eps = jnp.zeros((x.shape[0], self.latent_dim), jnp.float32)
    return VAEState(step=jnp.zeros((), jnp.int32),
                    vae=init_player(self.module, key, (x, eps), self.tx))

  def make_step(self, phase: int = 0):
    del phase

    def loss_fn(params, x, eps):
      log_px, kl = self.per_example_terms(params, x, eps)
      loss = -jnp.mean(log_px - self.beta * kl)
      return loss, {'loss': loss, 'elbo': jnp.mean(log_px - kl),
                    'reconstruction': -jnp.mean(log_px), 'kl': jnp.mean(kl)}

    def step(state: VAEState, batch, key):
      images = batch['image'][0]
      data_key, noise_key = jax.random.split(key)
      x = self.targets(images, data_key)
      eps = jax.random.normal(noise_key, (x.shape[0], self.latent_dim), jnp.float32)
      player = state.vae
      grads, metrics = jax.grad(loss_fn, has_aux=True)(player.params, x, eps)
      updates, opt_state = self.tx.update(grads, player.opt_state, player.params)
      player = Player(optax.apply_updates(player.params, updates), {}, opt_state)
      return VAEState(step=state.step + 1, vae=player), metrics

    return step

  def decode_mean(self, state: VAEState, z):
    """The decoder's Bernoulli means as images in [-1, 1]."""
    return 2.0 * jax.nn.sigmoid(self._apply(state.vae.params, z, method=self.module.decode)) - 1.0

  def encode(self, state: VAEState, x):
    return self._apply(state.vae.params, x, method=self.module.encode)

  def sample(self, state: VAEState, key, n: int):
    return self.decode_mean(state, jax.random.normal(key, (n, self.latent_dim), jnp.float32))

  def elbo(self, state: VAEState, images, key):
    """Per-example ELBO (beta 1, analytic KL, one sample) of images in [-1, 1], in nats."""
    data_key, noise_key = jax.random.split(key)
    x = self.targets(images, data_key)
    eps = jax.random.normal(noise_key, (x.shape[0], self.latent_dim), jnp.float32)
    log_px, kl = self.per_example_terms(state.vae.params, x, eps)
    return log_px - kl

  def log_likelihood(self, state: VAEState, images, key, num_samples: int):
    """Per-example importance-weighted bound on log p(x) (Burda et al. 2016) with
    `num_samples` samples of q(z | x): log (1/k) sum_i p(x, z_i) / q(z_i | x), in nats.
    k = 1 is a one-sample ELBO with the KL estimated; the bound tightens as k grows."""
    data_key, noise_key = jax.random.split(key)
    x = self.targets(images, data_key)
    params = state.vae.params
    mean, log_var = self._apply(params, x, method=self.module.encode)
    n = x.shape[0]
    chunk = min(num_samples, _IW_CHUNK)
    num_chunks = -(-num_samples // chunk)

    def chunk_log_sum(carry, i):
      eps = jax.random.normal(jax.random.fold_in(noise_key, i), (chunk, n, self.latent_dim))
      z = mean + jnp.exp(0.5 * log_var) * eps                               # [c, n, nz]
      logits = self._apply(params, z.reshape(chunk * n, -1), method=self.module.decode)
      targets = jnp.broadcast_to(x, (chunk,) + x.shape).reshape((chunk * n,) + x.shape[1:])
      log_px = objectives.bernoulli_log_likelihood(logits, targets).reshape(chunk, n)
      log_w = (log_px + objectives.standard_normal_log_density(z)
               - objectives.gaussian_log_density(z, mean, log_var))
      valid = (i * chunk + jnp.arange(chunk)) < num_samples                  # the last chunk's tail
      log_w = jnp.where(valid[:, None], log_w, -jnp.inf)
      return jnp.logaddexp(carry, jax.nn.logsumexp(log_w, axis=0)), None

    total, _ = jax.lax.scan(chunk_log_sum, jnp.full((n,), -jnp.inf), jnp.arange(num_chunks))
    return total - jnp.log(float(num_samples))

  def functions(self) -> Dict[str, Any]:
    return {'sample': self.sample, 'elbo': self.elbo, 'log_likelihood': self.log_likelihood}

  def previews(self, state: VAEState, preview_batch, key):
    """samples (fixed noise), reconstructions (rows of held-out digits, each followed by a row
    of their reconstructions from the posterior mean), interpolations (the posterior means of
    consecutive held-out digits joined in 10 steps, one pair a row) and, for a 2-D latent
    space, the manifold: decoded means over a 16 x 16 grid of the prior's quantiles."""
    previews = {'samples': self.sample(state, key, self.grid_size)}
    images = preview_batch['image']
    x = self.targets(images, jax.random.PRNGKey(0))
    cols = min(8, images.shape[0])
    rows = max(1, min(4, images.shape[0] // cols))
    shown = x[:rows * cols]
    mean, _ = self.encode(state, shown)
    reconstruction = self.decode_mean(state, mean)
    pairs = jnp.stack([(2.0 * shown - 1.0).reshape((rows, cols) + shown.shape[1:]),
                       reconstruction.reshape((rows, cols) + shown.shape[1:])], axis=1)
    previews['reconstructions'] = pairs.reshape((2 * rows, cols) + shown.shape[1:])
    num_pairs = max(1, min(8, images.shape[0] // 2))
    ends, _ = self.encode(state, x[:2 * num_pairs])
    start, end = ends[0::2], ends[1::2]
    weights = jnp.linspace(0.0, 1.0, 10)[None, :, None]
    path = start[:, None] * (1 - weights) + end[:, None] * weights         # [pairs, 10, nz]
    decoded = self.decode_mean(state, path.reshape(-1, self.latent_dim))
    previews['interpolations'] = decoded.reshape((num_pairs, 10) + decoded.shape[1:])
    if self.latent_dim == 2:
      quantiles = jax.scipy.stats.norm.ppf(jnp.linspace(0.05, 0.95, 16))
      grid = jnp.stack(jnp.meshgrid(quantiles, quantiles[::-1]), -1).reshape(-1, 2)  # z1 across, z2 up
      decoded = self.decode_mean(state, grid)
      previews['manifold'] = decoded.reshape((16, 16) + decoded.shape[1:])
    return previews
