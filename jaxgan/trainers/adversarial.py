"""The one generic adversarial train step: discriminator update(s), then a generator update.

Variants are configurations of this step, not copies of it. From the config come:
  the objective (non-saturating, Wasserstein, hinge, ...; jaxgan/objectives.py),
  the nets and their options (class conditioning, minibatch features, the InfoGAN Q head;
    jaxgan/architectures),
  the per-player optimizers and the number of critic updates (`train.d_steps`),
  a penalty and a weight constraint on the critic (`config.regularizer`; jaxgan/regularizers.py),
  InfoGAN's latent codes and mutual-information term (`config.info`),
  PacGAN's packing (`model.pack`) and the unrolled generator loss (`train.unroll_steps`).

Semantics follow the PyTorch originals (pytorch/examples DCGAN): real and fake images go
through D as separate batches (so BatchNorm sees each alone); the generator runs forward once
per step and its images serve both the last D update (detached) and the G update, whose
gradient is pulled back through that same forward pass (`jax.vjp`). Critic updates before the
last draw fresh fakes each (PyTorch's WGAN loop).

Unrolled GAN (Metz et al. 2017), `train.unroll_steps = k > 0`: the generator's loss is
f(G, D_k) where D_0 is the discriminator this step started from and D_{j+1} is one optimizer
step of the discriminator's own loss from D_j on this step's last real batch and fakes,
differentiated through every step (optimizer state included) with respect to the fakes and so
the generator. D_1 equals the update the discriminator really takes. k = 0 is the plain
alternating step, where G sees the updated discriminator as a constant.
"""
import math
from typing import Dict, Optional

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import architectures, objectives, optimizers, regularizers
from jaxgan.config_checks import choice, float_field, get, int_field, require, widths
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Phase, Trainer
from jaxgan.trainers.players import (  # noqa: F401  (Player: also for importers)
    Player, apply_net, init_player, with_compute_dtype)


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g: Player
  d: Player


@flax.struct.dataclass
class Latents:
  """What the generator is given: z (noise, then InfoGAN codes), and class labels if conditional."""
  z: jax.Array
  labels: Optional[jax.Array] = None        # [B] int, conditional nets only
  categorical: Optional[jax.Array] = None   # [B] int, InfoGAN only
  continuous: Optional[jax.Array] = None    # [B, n] in [-1, 1], InfoGAN only


def pack(x: jax.Array, m: int) -> jax.Array:
  """PacGAN: m consecutive samples become one, concatenated along the last axis.
  [B, ..., C] -> [B / m, ..., m * C]."""
  if m == 1:
    return x
  x = x.reshape((x.shape[0] // m, m) + x.shape[1:])
  x = jnp.moveaxis(x, 1, -2)
  return x.reshape(x.shape[:-2] + (m * x.shape[-1],))


# The discriminator's optimizer as the unrolled GAN differentiates through it: Adam's update
# m / (sqrt(v) + eps) has an infinite derivative in v where a gradient is exactly zero (v = 0: a
# maxout piece never chosen, a class absent from the batch), and 0 * inf turns the whole
# unrolled gradient into NaN. optax's `eps_root` (sqrt(v + eps_root)) keeps it finite and moves
# the update by nothing measurable; other optimizers ignore it.
UNROLL_EPS_ROOT = 1e-20


def render_points(points: jax.Array, extent: float, size: int = 160) -> jax.Array:
  """2-D samples [N, 2] -> one scatter image [1, size, size, 1] in [-1, 1] (dark dots on white),
  over [-extent, extent]^2, y up. Traceable, so the loop's sample grids work for point data."""
  cells = jnp.clip(jnp.floor((points + extent) / (2 * extent) * size), 0, size - 1).astype(jnp.int32)
  flat = (size - 1 - cells[:, 1]) * size + cells[:, 0]
  counts = jnp.zeros((size * size,), jnp.float32).at[flat].add(1.0)
  shade = jnp.clip(counts / 3.0, 0.0, 1.0)
  return (1.0 - 2.0 * shade).reshape(1, size, size, 1)


def _with_conv_choice(model, penalty_name: str):
  """`model` with `d_conv='auto'` resolved: patches-times-matrix strided convolutions on CPU
  under a double-backward penalty (measured about 2x faster there), XLA's convolutions
  otherwise (faster on CPU for single backward, and cuDNN's on GPU)."""
  if model.get('d_conv', 'auto') != 'auto':
    return model
  resolved = model.copy_and_resolve_references()
  matmul = penalty_name in regularizers.DOUBLE_BACKWARD_PENALTIES and jax.default_backend() == 'cpu'
  with resolved.unlocked():
    resolved.d_conv = 'matmul' if matmul else 'xla'
  return resolved


def validate_gan_config(config) -> None:
  """The adversarial family's fields (configs/gan_common.py)."""
  int_field(config, 'model.latent_dim', 1)
  widths(config, 'model.g_hidden')
  widths(config, 'model.d_hidden')
  int_field(config, 'model.g_features', 1)
  int_field(config, 'model.d_features', 1)
  float_field(config, 'model.leaky_slope', 0.0, 1.0, low_inclusive=True)
  choice(config, 'model.sample_statistics', ('batch', 'running'))
  optimizers.validate(config, ('g_lr', 'd_lr'))
  int_field(config, 'train.d_steps', 1)
  choice(config, 'model.conditioning', ('none', 'concat', 'projection'))
  int_field(config, 'model.label_embed_dim', 0)
  choice(config, 'model.minibatch', ('none', 'discrimination', 'stddev'))
  choice(config, 'model.d_conv', ('auto', 'xla', 'matmul'))
  int_field(config, 'model.minibatch_kernels', 1)
  int_field(config, 'model.minibatch_kernel_dim', 1)
  int_field(config, 'model.minibatch_group', 0)
  int_field(config, 'model.q_hidden', 1)
  int_field(config, 'model.maxout_pieces', 1)
  pack_size = int_field(config, 'model.pack', 1)
  batch_size = get(config, 'train.batch_size')
  require(batch_size % pack_size == 0,
          f'train.batch_size={batch_size} must be a multiple of model.pack={pack_size}')
  choice(config, 'regularizer.name', ('none',) + tuple(regularizers.PENALTIES.names()))
  float_field(config, 'regularizer.weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'regularizer.clip', 0.0, 1e6, low_inclusive=True)
  require(not (get(config, 'regularizer.name') == 'gradient_penalty'
               and get(config, 'model.d_batch_norm')),
          'regularizer.name=gradient_penalty needs a critic without BatchNorm (the penalty is '
          'per sample; BatchNorm couples them): set model.d_batch_norm=False')
  categories = int_field(config, 'info.categories', 0)
  require(categories != 1, 'info.categories must be 0 (no categorical code) or at least 2')
  int_field(config, 'info.continuous', 0)
  float_field(config, 'info.categorical_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'info.continuous_weight', 0.0, 1e6, low_inclusive=True)
  int_field(config, 'train.unroll_steps', 0)
  require(not (pack_size > 1 and (get(config, 'model.conditioning') != 'none' or categories
                                  or get(config, 'info.continuous'))),
          'model.pack > 1 (PacGAN) does not combine with model.conditioning or InfoGAN codes')
  objectives.OBJECTIVES.get(get(config, 'objective'), 'objective')
  architectures.GENERATORS.get(get(config, 'model.generator'), 'model.generator')
  architectures.DISCRIMINATORS.get(get(config, 'model.discriminator'), 'model.discriminator')


@TRAINERS.register('adversarial')
class AdversarialTrainer(Trainer):

  validate_config = staticmethod(validate_gan_config)

  def __init__(self, config, data_info):
    self.config = config
    self.image_shape = tuple(data_info.image_shape)
    self.num_classes = data_info.num_classes
    model = config.model
    self.latent_dim = model.latent_dim
    self.conditional = model.conditioning != 'none'
    info = config.info
    self.categories, self.continuous = int(info.categories), int(info.continuous)
    self.q_outputs = self.categories + self.continuous
    self.pack_size = int(model.pack)
    compute_dtype = config.train.compute_dtype
    self.generator = with_compute_dtype(
        architectures.make_generator(model, self.image_shape, self.num_classes), compute_dtype)
    packed_shape = self.image_shape[:-1] + (self.image_shape[-1] * self.pack_size,)
    self.discriminator = with_compute_dtype(architectures.make_discriminator(
        _with_conv_choice(model, config.regularizer.name), packed_shape, self.num_classes,
        q_outputs=self.q_outputs), compute_dtype)
    self.objective = objectives.get(config.objective)
    self.penalty = regularizers.get_penalty(config.regularizer.name)
    self.penalty_weight = float(config.regularizer.weight)
    self.constrain = regularizers.make_constraint(config.regularizer)
    total_steps = config.train.num_steps
    self.g_tx = make_optimizer(config.optim, config.optim.g_lr, total_steps)
    self.d_tx = make_optimizer(config.optim, config.optim.d_lr, total_steps)
    self.batches_per_step = config.train.d_steps
    self.unroll_steps = int(config.train.unroll_steps)
    self.unroll_tx = make_optimizer(config.optim, config.optim.d_lr, total_steps,
                                    eps_root=UNROLL_EPS_ROOT)
    self.sample_with_batch_stats = model.sample_statistics == 'batch'
    self.plot_extent = getattr(data_info, 'plot_extent', None)
    grid_size = config.train.grid_size
    if len(self.image_shape) == 1:       # points: the grid is one scatter image
      self.grid_columns = 1
    elif self.conditional:               # one row per class
      self.grid_columns = max(1, math.ceil(grid_size / self.num_classes))
    elif self.categories:                # one row per categorical value
      self.grid_columns = max(1, math.ceil(grid_size / self.categories))
    else:
      self.grid_columns = None           # square grid

  # -- latents ------------------------------------------------------------------------------
  def draw_latents(self, key, n: int, labels=None) -> Latents:
    """Noise N(0, I) from `key` (exactly as the plain GAN draws it), then from fold_in(key, 1)
    the class labels (uniform) and InfoGAN's codes: categorical uniform over `info.categories`,
    continuous uniform in [-1, 1]."""
    noise = jax.random.normal(key, (n, self.latent_dim), jnp.float32)
    extra = jax.random.split(jax.random.fold_in(key, 1), 3)
    if self.conditional and labels is None:
      labels = jax.random.randint(extra[0], (n,), 0, self.num_classes)
    categorical = continuous = None
    parts = [noise]
    if self.categories:
      categorical = jax.random.randint(extra[1], (n,), 0, self.categories)
      parts.append(jax.nn.one_hot(categorical, self.categories, dtype=jnp.float32))
    if self.continuous:
      continuous = jax.random.uniform(extra[2], (n, self.continuous), jnp.float32, -1.0, 1.0)
      parts.append(continuous)
    z = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
    return Latents(z, labels if self.conditional else None, categorical, continuous)

  def sample_latents(self, key, n: int) -> jax.Array:
    return self.draw_latents(key, n).z

  def _codes_z(self, noise, categorical, continuous) -> Latents:
    parts = [noise]
    if self.categories:
      parts.append(jax.nn.one_hot(categorical, self.categories, dtype=jnp.float32))
    if self.continuous:
      parts.append(continuous)
    return Latents(jnp.concatenate(parts, -1), None, categorical, continuous)

  # -- nets ---------------------------------------------------------------------------------
  def _g_args(self, latents: Latents):
    return (latents.z,) if latents.labels is None else (latents.z, latents.labels)

  def discriminate(self, params, batch_stats, x, labels=None, *, train=True, update_stats=True):
    """D on a batch (packed when model.pack > 1): (logits, q or None, batch_stats)."""
    args = (pack(x, self.pack_size),) + (() if labels is None else (labels,))
    out, stats = apply_net(self.discriminator, params, batch_stats, *args, train=train,
                           update_stats=update_stats)
    logits, q = out if isinstance(out, tuple) else (out, None)
    return logits, q, stats

  # -- protocol -----------------------------------------------------------------------------
  def phases(self):
    return [Phase('train', None, self.batches_per_step)]

  def functions(self):
    return {'sample': self.sample, 'generator_variables': self.generator_variables}

  def generator_variables(self, state: GANState):
    """The generator's variables as stored (the efficiency evaluator counts and sizes them)."""
    return {'params': state.g.params, 'batch_stats': state.g.batch_stats}

  def init(self, key, example_batch) -> GANState:
    g_key, d_key = jax.random.split(key)
    latents = self.draw_latents(jax.random.PRNGKey(0), 2)
    images = pack(example_batch['image'][0, :2 * self.pack_size], self.pack_size)
    d_args = (images,) + ((example_batch['label'][0, :2],) if self.conditional else ())
    return GANState(step=jnp.zeros((), jnp.int32),
                    g=init_player(self.generator, g_key, self._g_args(latents), self.g_tx),
                    d=init_player(self.discriminator, d_key, d_args, self.d_tx))

  def _d_loss(self, params, batch_stats, real, real_labels, fake, latents: Latents, key):
    """The discriminator's loss: (loss, (batch_stats, real_logits, fake_logits, terms))."""
    objective = self.objective
    real_logits, _, stats = self.discriminate(params, batch_stats, real, real_labels)
    fake_logits, fake_q, stats = self.discriminate(params, stats, fake, latents.labels)
    adversarial = objective.d_loss(real_logits, fake_logits)
    loss, terms = adversarial, {}
    if self.q_outputs:
      terms['info_loss'] = self._info_loss(fake_q, latents)
      loss = loss + terms['info_loss']
    if self.penalty is not None:
      def critic(x):
        return self.discriminate(params, stats, x, real_labels, update_stats=False)[0]
      terms['penalty'] = self.penalty(critic, real, fake, key)
      loss = loss + self.penalty_weight * terms['penalty']
    return loss, (stats, real_logits, fake_logits, adversarial, terms)

  def _info_loss(self, q, latents: Latents):
    info = self.config.info
    return objectives.mutual_information_loss(q, latents.categorical, latents.continuous,
                                              self.categories, info.categorical_weight,
                                              info.continuous_weight)

  def _d_step(self, d: Player, real, real_labels, fake, latents, key, tx=None):
    """One optimizer step of D; differentiable in `fake` (the unrolled GAN uses that)."""
    (_, (stats, real_logits, fake_logits, adversarial, terms)), grads = jax.value_and_grad(
        self._d_loss, has_aux=True)(d.params, d.batch_stats, real, real_labels, fake, latents, key)
    updates, opt_state = (tx or self.d_tx).update(grads, d.opt_state, d.params)
    params = self.constrain(optax.apply_updates(d.params, updates))
    score = self.objective.score
    metrics = {'d_loss': adversarial, 'd_real': score(real_logits).mean(),
               'd_fake': score(fake_logits).mean(), **terms}
    return Player(params, stats, opt_state), metrics

  def make_step(self, phase: int = 0):
    del phase  # one phase
    generator, d_steps, k = self.generator, self.batches_per_step, self.unroll_steps

    def step(state: GANState, batch, key):
      g, d = state.g, state.d
      batch_size = batch['image'].shape[1]
      real_labels = batch['label'] if self.conditional else [None] * d_steps
      g_stats = g.batch_stats
      for i in range(d_steps - 1):
        key_i = jax.random.fold_in(key, i)
        latents = self.draw_latents(key_i, batch_size)
        fake, g_stats = apply_net(generator, g.params, g_stats, *self._g_args(latents), train=True)
        d, _ = self._d_step(d, batch['image'][i], real_labels[i], jax.lax.stop_gradient(fake),
                            latents, jax.random.fold_in(key_i, 2))

      # The last D update and the G update share one generator forward pass.
      key_last = jax.random.fold_in(key, d_steps - 1)
      latents = self.draw_latents(key_last, batch_size)
      penalty_key = jax.random.fold_in(key_last, 2)
      real, labels = batch['image'][d_steps - 1], real_labels[d_steps - 1]

      def generate(params):
        return apply_net(generator, params, g_stats, *self._g_args(latents), train=True)

      fake, pull_back, g_stats = jax.vjp(generate, g.params, has_aux=True)
      d_start = d
      d, metrics = self._d_step(d, real, labels, jax.lax.stop_gradient(fake), latents, penalty_key)

      def g_loss_fn(fake_images):
        params, stats = d.params, d.batch_stats
        if k:
          unrolled = d_start
          for j in range(k):
            unrolled, _ = self._d_step(unrolled, real, labels, fake_images, latents,
                                       penalty_key if j == 0 else jax.random.fold_in(penalty_key, j),
                                       tx=self.unroll_tx)
          params, stats = unrolled.params, d.batch_stats
        logits, q, stats = self.discriminate(params, stats, fake_images, latents.labels)
        loss = self.objective.g_loss(logits)
        terms = {}
        if self.q_outputs:
          terms['g_info_loss'] = self._info_loss(q, latents)
          loss = loss + terms['g_info_loss']
        return loss, (stats, self.objective.g_loss(logits), terms)

      (_, (d_stats, g_loss, terms)), fake_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
      (g_grads,) = pull_back(fake_grad)
      updates, g_opt_state = self.g_tx.update(g_grads, g.opt_state, g.params)
      g = Player(optax.apply_updates(g.params, updates), g_stats, g_opt_state)
      d = d.replace(batch_stats=d_stats)
      metrics['g_loss'] = g_loss
      metrics.update(terms)
      return GANState(step=state.step + 1, g=g, d=d), metrics

    return step

  def generate(self, state: GANState, latents: Latents) -> jax.Array:
    images, _ = apply_net(self.generator, state.g.params, state.g.batch_stats,
                          *self._g_args(latents), train=self.sample_with_batch_stats,
                          update_stats=False)
    return images

  def sample(self, state: GANState, key, n: int, labels=None) -> jax.Array:
    """n samples; a conditional generator draws uniform labels unless `labels` [n] are given."""
    return self.generate(state, self.draw_latents(key, n, labels))

  def previews(self, state: GANState, preview_batch, key) -> Dict[str, jax.Array]:
    """{'samples': the grid samples/step_<N>.png shows} (real data is not needed)."""
    del preview_batch
    grid = self.grid(state, key)
    if self.grid_columns is None:
      return {'samples': grid}
    rows = grid.shape[0] // self.grid_columns
    return {'samples': grid.reshape((rows, self.grid_columns) + grid.shape[1:])}

  def grid(self, state: GANState, key) -> jax.Array:
    """The main preview: a scatter image for point data; for a conditional generator one row
    per class (the same noise down each column), laid out in `grid_columns`; for InfoGAN one
    row per categorical value, with the first continuous code going from -1 to 1 along each
    row (the same noise everywhere), so that each direction varies one code; else a square
    grid."""
    n = self.config.train.grid_size
    if len(self.image_shape) == 1:
      points = self.sample(state, key, max(n, 2500))
      extent = self.plot_extent or jnp.max(jnp.abs(points)) * 1.1 + 1e-6
      return render_points(points, extent)
    cols = self.grid_columns
    if self.conditional:
      rows = self.num_classes
      latents = self.draw_latents(key, cols)
      z = jnp.tile(latents.z, (rows, 1))
      labels = jnp.repeat(jnp.arange(rows), cols)
      return self.generate(state, Latents(z, labels))
    if self.categories:
      rows = self.categories
      noise = jnp.broadcast_to(jax.random.normal(key, (1, self.latent_dim)), (rows * cols, self.latent_dim))
      categorical = jnp.repeat(jnp.arange(rows), cols)
      if self.continuous:
        continuous = jnp.zeros((rows * cols, self.continuous))
        continuous = continuous.at[:, 0].set(jnp.tile(jnp.linspace(-1.0, 1.0, cols), rows))
      else:
        continuous = None
        noise = jnp.tile(jax.random.normal(key, (cols, self.latent_dim)), (rows, 1))
      return self.generate(state, self._codes_z(noise, categorical, continuous))
    return self.sample(state, key, n)
