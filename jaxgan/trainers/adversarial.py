"""The one generic adversarial train step: discriminator update(s), then a generator update.

Variants are configurations of this step, not copies of it: the objective, the nets, the
optimizers and the number of critic updates all come from the config.

Semantics follow the PyTorch originals (pytorch/examples DCGAN): real and fake images go
through D as separate batches (so BatchNorm sees each alone); the generator runs forward once
per step and its images serve both the last D update (detached) and the G update, whose
gradient is pulled back through that same forward pass (`jax.vjp`).
"""
from typing import Any, Dict, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import architectures, objectives
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS


@flax.struct.dataclass
class Player:
  params: Any
  batch_stats: Any   # {} when the net has no BatchNorm
  opt_state: Any


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g: Player
  d: Player


def apply_net(module: nn.Module, params, batch_stats, *args, train: bool,
              update_stats: bool = True):
  """Runs `module`; returns (output, batch_stats after the call)."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  if train and batch_stats:
    out, updates = module.apply(variables, *args, train=True, mutable=['batch_stats'])
    return out, (updates['batch_stats'] if update_stats else batch_stats)
  return module.apply(variables, *args, train=train), batch_stats


def _init_player(module, key, example, tx) -> Player:
  variables = module.init(key, *example, train=False)
  params = variables['params']
  return Player(params, variables.get('batch_stats', {}), tx.init(params))


@TRAINERS.register('adversarial')
class AdversarialTrainer:

  def __init__(self, config, data_info):
    self.config = config
    self.image_shape = tuple(data_info.image_shape)
    self.num_classes = data_info.num_classes
    self.latent_dim = config.model.latent_dim
    self.generator = architectures.make_generator(config.model, self.image_shape, self.num_classes)
    self.discriminator = architectures.make_discriminator(config.model, self.image_shape,
                                                          self.num_classes)
    self.objective = objectives.get(config.objective)
    self.g_tx = make_optimizer(config.optim, config.optim.g_lr)
    self.d_tx = make_optimizer(config.optim, config.optim.d_lr)
    self.batches_per_step = config.train.d_steps
    self.sample_with_batch_stats = config.model.sample_statistics == 'batch'

  # -- latents ------------------------------------------------------------------------------
  def sample_latents(self, key, n: int) -> jax.Array:
    return jax.random.normal(key, (n, self.latent_dim), jnp.float32)

  # -- protocol -----------------------------------------------------------------------------
  def init(self, key, example_batch) -> GANState:
    g_key, d_key = jax.random.split(key)
    z = self.sample_latents(jax.random.PRNGKey(0), 2)
    images = example_batch['image'][0, :2]
    return GANState(step=jnp.zeros((), jnp.int32),
                    g=_init_player(self.generator, g_key, (z,), self.g_tx),
                    d=_init_player(self.discriminator, d_key, (images,), self.d_tx))

  def make_step(self):
    objective, generator, discriminator = self.objective, self.generator, self.discriminator
    d_tx, g_tx = self.d_tx, self.g_tx
    d_steps = self.batches_per_step

    def d_update(d: Player, real, fake) -> Tuple[Player, Dict[str, jax.Array]]:
      def loss_fn(params):
        real_logits, stats = apply_net(discriminator, params, d.batch_stats, real, train=True)
        fake_logits, stats = apply_net(discriminator, params, stats, fake, train=True)
        return objective.d_loss(real_logits, fake_logits), (stats, real_logits, fake_logits)

      (loss, (stats, real_logits, fake_logits)), grads = jax.value_and_grad(
          loss_fn, has_aux=True)(d.params)
      updates, opt_state = d_tx.update(grads, d.opt_state, d.params)
      params = optax.apply_updates(d.params, updates)
      metrics = {'d_loss': loss, 'd_real': objective.score(real_logits).mean(),
                 'd_fake': objective.score(fake_logits).mean()}
      return Player(params, stats, opt_state), metrics

    def step(state: GANState, batch, key):
      g, d = state.g, state.d
      batch_size = batch['image'].shape[1]
      g_stats = g.batch_stats
      # Critic updates before the last one each draw fresh fakes (PyTorch's WGAN loop).
      for i in range(d_steps - 1):
        z = self.sample_latents(jax.random.fold_in(key, i), batch_size)
        fake, g_stats = apply_net(generator, g.params, g_stats, z, train=True)
        d, _ = d_update(d, batch['image'][i], jax.lax.stop_gradient(fake))

      # The last D update and the G update share one generator forward pass.
      z = self.sample_latents(jax.random.fold_in(key, d_steps - 1), batch_size)

      def generate(params):
        return apply_net(generator, params, g_stats, z, train=True)

      fake, pull_back, g_stats = jax.vjp(generate, g.params, has_aux=True)
      d, metrics = d_update(d, batch['image'][d_steps - 1], jax.lax.stop_gradient(fake))

      def g_loss_fn(fake_images):
        logits, d_stats = apply_net(discriminator, d.params, d.batch_stats, fake_images, train=True)
        return objective.g_loss(logits), d_stats

      (g_loss, d_stats), fake_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
      (g_grads,) = pull_back(fake_grad)
      updates, g_opt_state = g_tx.update(g_grads, g.opt_state, g.params)
      g = Player(optax.apply_updates(g.params, updates), g_stats, g_opt_state)
      d = d.replace(batch_stats=d_stats)
      metrics['g_loss'] = g_loss
      return GANState(step=state.step + 1, g=g, d=d), metrics

    return step

  def sample(self, state: GANState, key, n: int) -> jax.Array:
    z = self.sample_latents(key, n)
    images, _ = apply_net(self.generator, state.g.params, state.g.batch_stats, z,
                          train=self.sample_with_batch_stats, update_stats=False)
    return images

  grid_columns = None  # square grid

  def grid(self, state: GANState, key) -> jax.Array:
    return self.sample(state, key, self.config.train.grid_size)
