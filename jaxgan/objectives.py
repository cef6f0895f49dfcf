"""Adversarial objectives on logits, chosen by `config.objective`.

Every objective has the same signature, so any architecture pairs with any loss:
  d_loss(real_logits, fake_logits) -> scalar   (the discriminator/critic minimises it)
  g_loss(fake_logits) -> scalar                (the generator minimises it)
  score(logits) -> what to report as D(x): a probability for the BCE family, the raw critic
                   value for the others.
Losses never compute sigmoid and then log: `optax.sigmoid_binary_cross_entropy` and
`jax.nn.softplus` are stable for any logit, so no run dies of log(0).
"""
import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jaxgan.registry import Registry

OBJECTIVES = Registry('objective')


@dataclasses.dataclass(frozen=True)
class Objective:
  d_loss: Callable
  g_loss: Callable
  score: Callable


def _bce(logits, target):
  return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)).mean()


def _d_bce(real_logits, fake_logits):
  return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


# Goodfellow et al.'s practical choice: G maximises log D(G(z)) (labels flipped to "real").
OBJECTIVES.register('non_saturating')(Objective(
    d_loss=_d_bce, g_loss=lambda fake: _bce(fake, 1.0), score=jax.nn.sigmoid))

# The minimax game as written: G minimises log(1 - D(G(z))) = -softplus(logit) - ... on logits.
OBJECTIVES.register('minimax')(Objective(
    d_loss=_d_bce, g_loss=lambda fake: -_bce(fake, 0.0), score=jax.nn.sigmoid))

# Arjovsky et al.: the critic maximises E[D(x)] - E[D(G(z))].
OBJECTIVES.register('wasserstein')(Objective(
    d_loss=lambda real, fake: fake.mean() - real.mean(),
    g_loss=lambda fake: -fake.mean(), score=lambda x: x))

OBJECTIVES.register('hinge')(Objective(
    d_loss=lambda real, fake: jax.nn.relu(1.0 - real).mean() + jax.nn.relu(1.0 + fake).mean(),
    g_loss=lambda fake: -fake.mean(), score=lambda x: x))

# Mao et al. (LSGAN), a=0, b=c=1.
OBJECTIVES.register('least_squares')(Objective(
    d_loss=lambda real, fake: 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake ** 2).mean(),
    g_loss=lambda fake: 0.5 * ((fake - 1.0) ** 2).mean(), score=lambda x: x))


def get(name: str) -> Objective:
  return OBJECTIVES.get(name, 'objective')


# -- InfoGAN's mutual-information term ---------------------------------------------------------

def mutual_information_loss(q, categorical, continuous, categories: int,
                            categorical_weight: float, continuous_weight: float):
  """InfoGAN's L_I as a loss (Chen et al. 2016): minus the variational lower bound on
  I(c; G(z, c)), up to the constant entropy of the codes.

  `q` [B, categories + n_continuous] is the Q head's output on generated samples: logits of the
  categorical code, then the means of the continuous codes, modelled as unit-variance Gaussians
  (InfoGAN's MNIST run fixes the std), so their term is 0.5 * squared error.
  `categorical` [B] int or None, `continuous` [B, n] or None: the codes G was given.
  """
  loss = jnp.zeros((), q.dtype)
  if categories:
    ce = optax.softmax_cross_entropy_with_integer_labels(q[:, :categories], categorical)
    loss = loss + categorical_weight * ce.mean()
  if continuous is not None and continuous.shape[-1]:
    mean = q[:, categories:categories + continuous.shape[-1]]
    loss = loss + continuous_weight * (0.5 * (continuous - mean) ** 2).sum(-1).mean()
  return loss


# ---------------------------------------------------------------------------------------------
# The VAE's terms (jaxgan/trainers/vae.py). Per example, summed over dimensions; the trainer
# averages over the batch.

_LOG_2PI = 1.8378770664093453


def gaussian_kl(mean, log_var):
  """KL(N(mean, exp(log_var)) || N(0, I)), summed over the last axis: the analytic term of the
  ELBO. 0.5 * sum(mean^2 + sigma^2 - 1 - log sigma^2), with log_var = log sigma^2."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var, axis=-1)


def bernoulli_log_likelihood(logits, targets):
  """log p(x | z) of a Bernoulli decoder on logits, summed over all but the first axis. For
  grey-level targets in [0, 1] it is minus the summed BCE the PyTorch tutorial minimises."""
  per_pixel = -optax.sigmoid_binary_cross_entropy(logits, targets)
  return per_pixel.reshape(per_pixel.shape[0], -1).sum(-1)


def gaussian_log_density(z, mean, log_var):
  """log N(z; mean, exp(log_var)), summed over the last axis."""
  return -0.5 * jnp.sum(_LOG_2PI + log_var + jnp.square(z - mean) * jnp.exp(-log_var), axis=-1)


def standard_normal_log_density(z):
  return -0.5 * jnp.sum(_LOG_2PI + jnp.square(z), axis=-1)


# -- Image-to-image terms (jaxgan/trainers/image_to_image.py) -----------------------------------
# CycleGAN and pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py `GANLoss`)
# score every patch logit against a constant target: 1 for "real", 0 for "fake". The
# generator's adversarial loss is that score of its fakes against "real"; the discriminator's
# is the mean of its real and fake scores (the reference halves the sum).

def patch_gan_loss(objective: str, logits, target_is_real: bool):
  """`GANLoss(gan_mode)(logits, target_is_real)`: 'least_squares' (lsgan: mean squared
  error to the target) or 'non_saturating' (vanilla: binary cross-entropy on logits)."""
  target = 1.0 if target_is_real else 0.0
  if objective == 'least_squares':
    return jnp.mean(jnp.square(logits - target))
  if objective == 'non_saturating':
    return _bce(logits, target)
  raise ValueError(f'no patch GAN loss for objective {objective!r}')


PATCH_GAN_OBJECTIVES = ('least_squares', 'non_saturating')


def patch_d_loss(objective: str, real_logits, fake_logits):
  return 0.5 * (patch_gan_loss(objective, real_logits, True)
                + patch_gan_loss(objective, fake_logits, False))


def l1_distance(x, y):
  """Mean absolute difference (nn.L1Loss): pix2pix's reconstruction term and CycleGAN's cycle
  and identity terms, before their weights."""
  return jnp.mean(jnp.abs(x - y))
