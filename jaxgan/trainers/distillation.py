"""Distillation of a trained DCGAN generator into a slimmer student (GAN Compression's recipe,
Li et al. 2020), on the shared loop: trainer 'distill', configs/distill_dcgan.py.

The teacher is the newest checkpoint of the DCGAN run in `distill.teacher_workdir`; it is read
once, when the state is first built, and kept frozen inside the state (so a resume, an
evaluation or a compression of this run reproduces it without reading the teacher again; the
teacher's workdir is still read for its config whenever this run's trainer is built). The
student is this config's generator (`model.g_features` is its width). Each step draws one set
of latents that both nets read, updates the discriminator on the student's fakes as the
adversarial trainer does, then the student (and the 1x1 maps) on

  gan_weight * g_loss(D(student(z)))
  + reconstruction_weight * mean |student(z) - teacher(z)|                  (L1, weight 10)
  + feature_weight * sum_l mean (A_l(student_l(z)) - teacher_l(z))^2       (weight 0.01)

where student_l, teacher_l are the activations of hidden layer l just before its ReLU (the
BatchNorm output; the convolution output without BatchNorm) and A_l a learned 1x1 map from the
student's width to the teacher's. With `distill.init_discriminator` the discriminator starts
from the teacher run's, as GAN Compression's does (configs/distill_dcgan.py says why its default
is a fresh one). The teacher runs with its own
sampling statistics (`model.sample_statistics` of its run) and never updates them.
"""
from typing import Dict, List, Tuple

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import architectures
from jaxgan.config_checks import float_field, get, require
from jaxgan.errors import ConfigError
from jaxgan.trainers import TRAINERS
from jaxgan.trainers.adversarial import AdversarialTrainer, Latents, validate_gan_config
from jaxgan.trainers.players import Player, apply_net
from jaxgan.trainers.restored import check_same_latents, load_trained_gan, read_gan_config

FIELD = 'distill.teacher_workdir'


@flax.struct.dataclass
class FrozenNet:
  """A net that is read, never trained: no optimizer state."""
  params: dict
  batch_stats: dict


@flax.struct.dataclass
class DistillState:
  step: jax.Array
  g: Player          # the student
  d: Player
  adapters: Player   # the 1x1 maps, student width -> teacher width, one per feature layer
  teacher: FrozenNet


def feature_layers(generator) -> List[str]:
  """Names of a DCGAN generator's hidden layers whose outputs are distilled: what each hidden
  layer hands its ReLU (architectures/dcgan.py)."""
  from jaxgan.architectures.dcgan import factor_size
  net = getattr(generator, 'module', generator)   # through a MixedPrecision wrapper
  _, doublings = factor_size(*net.image_shape[:2])
  if net.use_batch_norm:
    return [f'bn_{i}' for i in range(doublings)]
  return ['project'] + [f'up_{i}' for i in range(doublings - 1)]


def apply_with_features(module, params, batch_stats, args, layers, *, train: bool,
                        update_stats: bool = True, rngs=None
                        ) -> Tuple[jax.Array, Dict[str, jax.Array], dict]:
  """(output, {layer: its activation}, batch_stats after the call): `module` on `args`, the
  outputs of its submodules named in `layers` captured on the way (rngs: e.g. dropout's)."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  mutable = ['intermediates'] + (['batch_stats'] if train and batch_stats else [])
  wanted = set(layers)
  out, collections = module.apply(
      variables, *args, train=train, mutable=mutable, rngs=rngs,
      capture_intermediates=lambda mdl, method: method == '__call__' and mdl.name in wanted)
  captured = collections['intermediates']
  features = {name: captured[name]['__call__'][0] for name in layers}
  stats = collections['batch_stats'] if train and batch_stats and update_stats else batch_stats
  return out, features, stats


def frozen(player) -> FrozenNet:
  """A restored run's net (host arrays) as a FrozenNet of device arrays."""
  return FrozenNet(jax.tree.map(jnp.asarray, player.params),
                   jax.tree.map(jnp.asarray, player.batch_stats))


def teacher_discriminator(teacher_d, fresh_d: Player, d_tx, field: str) -> Player:
  """The teacher run's discriminator with a fresh optimizer state; ConfigError unless its
  shapes are this config's (`fresh_d`)."""
  mine = jax.tree.map(jnp.shape, (fresh_d.params, fresh_d.batch_stats))
  theirs = jax.tree.map(jnp.shape, (teacher_d.params, teacher_d.batch_stats))
  if mine != theirs:
    raise ConfigError(f'the discriminator of this config differs from the one in {field}; '
                      'set model.d_* as the teacher run did, or '
                      '--config.distill.init_discriminator=False')
  params = jax.tree.map(jnp.asarray, teacher_d.params)
  return Player(params, jax.tree.map(jnp.asarray, teacher_d.batch_stats), d_tx.init(params))


def init_adapters(key, student_features, teacher_features) -> dict:
  """The 1x1 maps, one per feature layer: {layer: {'kernel': [c_student, c_teacher], 'bias'}}
  (shapes or arrays of both nets' features), kernels N(0, 1 / c_student)."""
  adapters = {}
  for i, name in enumerate(sorted(student_features)):
    c_in, c_out = student_features[name].shape[-1], teacher_features[name].shape[-1]
    kernel = jax.random.normal(jax.random.fold_in(key, 100 + i), (c_in, c_out)) / jnp.sqrt(c_in)
    adapters[name] = {'kernel': kernel, 'bias': jnp.zeros((c_out,))}
  return adapters


def adapt(adapter_params, features) -> Dict[str, jax.Array]:
  """Each layer's student features through its 1x1 map, to the teacher's width."""
  return {name: jnp.einsum('...c,cd->...d', features[name], p['kernel']) + p['bias']
          for name, p in adapter_params.items()}


def feature_distance(adapter_params, features, teacher_features) -> jax.Array:
  """sum over layers of mean (A_l(student_l) - teacher_l)^2."""
  adapted = adapt(adapter_params, features)
  return sum(jnp.mean(jnp.square(adapted[name] - teacher_features[name]))
             for name in sorted(adapter_params))


def update_student(g_tx, g: Player, g_stats, adapters: Player, pull_back, loss_fn, fake,
                   features):
  """One optimizer step of a student and its 1x1 maps on loss_fn(fake, features, adapter
  params) -> (loss, aux), its gradient carried back to the student's parameters through
  `pull_back` (the vjp of the student's forward pass that gave fake and features).
  Returns (student, adapters, loss, aux)."""
  (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=(0, 1, 2), has_aux=True)(
      fake, features, adapters.params)
  fake_grad, features_grad, adapter_grads = grads
  (g_grads,) = pull_back((fake_grad, features_grad))
  updates, g_opt_state = g_tx.update(g_grads, g.opt_state, g.params)
  g = Player(optax.apply_updates(g.params, updates), g_stats, g_opt_state)
  updates, a_opt_state = g_tx.update(adapter_grads, adapters.opt_state, adapters.params)
  adapters = Player(optax.apply_updates(adapters.params, updates), {}, a_opt_state)
  return g, adapters, loss, aux


def validate_distill_config(config) -> None:
  validate_gan_config(config)
  for name in ('gan_weight', 'reconstruction_weight', 'feature_weight'):
    float_field(config, f'distill.{name}', 0.0, 1e6, low_inclusive=True)
  get(config, FIELD)
  get(config, 'distill.init_discriminator')
  require(get(config, 'model.generator') == 'dcgan',
          'distillation trains a DCGAN student: set model.generator=dcgan')
  require(get(config, 'train.unroll_steps') == 0 and get(config, 'model.pack') == 1,
          'distillation supports neither train.unroll_steps > 0 nor model.pack > 1')
  require(not get(config, 'info.categories') and not get(config, 'info.continuous'),
          'distillation supports no InfoGAN codes (info.categories, info.continuous)')


@TRAINERS.register('distill')
class DistillationTrainer(AdversarialTrainer):

  validate_config = staticmethod(validate_distill_config)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    self.data_info = data_info
    distill = config.distill
    self.teacher_workdir = distill.teacher_workdir
    self.teacher_config = read_gan_config(self.teacher_workdir, FIELD)
    check_same_latents(config, self.teacher_config, FIELD)
    self.teacher_generator = architectures.make_generator(
        self.teacher_config.model, self.image_shape, self.num_classes)
    self.teacher_uses_batch_stats = self.teacher_config.model.sample_statistics == 'batch'
    self.layers = feature_layers(self.generator)
    if feature_layers(self.teacher_generator) != self.layers:
      raise ConfigError(f'the student and the teacher in {FIELD} must both use BatchNorm or '
                        'neither: set model.g_batch_norm as the teacher run did')
    self.gan_weight = float(distill.gan_weight)
    self.reconstruction_weight = float(distill.reconstruction_weight)
    self.feature_weight = float(distill.feature_weight)
    self.init_discriminator = bool(distill.init_discriminator)
    # Restored here, outside any trace: `init` is compiled, and puts these arrays in the state.
    self._teacher = load_trained_gan(self.teacher_workdir, FIELD, data_info)

  def teacher(self):
    """The teacher run, as restored from distill.teacher_workdir."""
    return self._teacher

  # -- nets ---------------------------------------------------------------------------------
  def student_forward(self, params, batch_stats, latents: Latents, *, train=True):
    return apply_with_features(self.generator, params, batch_stats, self._g_args(latents),
                               self.layers, train=train)

  def teacher_forward(self, teacher: FrozenNet, latents: Latents):
    out, features, _ = apply_with_features(
        self.teacher_generator, teacher.params, teacher.batch_stats, self._g_args(latents),
        self.layers, train=self.teacher_uses_batch_stats, update_stats=False)
    return jax.lax.stop_gradient(out), jax.lax.stop_gradient(features)

  def losses(self, fake, features, teacher_out, teacher_features, adapter_params):
    """(reconstruction L1, feature MSE summed over layers)."""
    reconstruction = jnp.mean(jnp.abs(fake - teacher_out))
    return reconstruction, feature_distance(adapter_params, features, teacher_features)

  # -- protocol -----------------------------------------------------------------------------
  def functions(self):
    return dict(super().functions(), reconstruction_error=self.reconstruction_error)

  def init(self, key, example_batch) -> DistillState:
    teacher_run = self.teacher()
    gan = super().init(key, example_batch)
    teacher = frozen(teacher_run.state.g)
    d = gan.d
    if self.init_discriminator:
      d = teacher_discriminator(teacher_run.state.d, d, self.d_tx, FIELD)
    # Widths of each feature layer, from one traced forward pass of both nets.
    latents = self.draw_latents(jax.random.PRNGKey(0), 2)
    _, student_features, _ = jax.eval_shape(
        lambda: self.student_forward(gan.g.params, gan.g.batch_stats, latents))
    _, teacher_features = jax.eval_shape(lambda: self.teacher_forward(teacher, latents))
    adapter_params = init_adapters(key, student_features, teacher_features)
    adapters = Player(adapter_params, {}, self.g_tx.init(adapter_params))
    return DistillState(step=gan.step, g=gan.g, d=d, adapters=adapters, teacher=teacher)

  def make_step(self, phase: int = 0):
    del phase  # one phase
    d_steps = self.batches_per_step

    def step(state: DistillState, batch, key):
      g, d = state.g, state.d
      batch_size = batch['image'].shape[1]
      real_labels = batch['label'] if self.conditional else [None] * d_steps
      g_stats = g.batch_stats
      for i in range(d_steps - 1):   # earlier critic updates see fresh fakes each
        key_i = jax.random.fold_in(key, i)
        latents = self.draw_latents(key_i, batch_size)
        fake, g_stats = apply_net(self.generator, g.params, g_stats, *self._g_args(latents),
                                  train=True)
        d, _ = self._d_step(d, batch['image'][i], real_labels[i], jax.lax.stop_gradient(fake),
                            latents, jax.random.fold_in(key_i, 2))

      key_last = jax.random.fold_in(key, d_steps - 1)
      latents = self.draw_latents(key_last, batch_size)
      teacher_out, teacher_features = self.teacher_forward(state.teacher, latents)

      def generate(params):
        fake, features, stats = self.student_forward(params, g_stats, latents)
        return (fake, features), stats

      (fake, features), pull_back, g_stats = jax.vjp(generate, g.params, has_aux=True)
      d, metrics = self._d_step(d, batch['image'][d_steps - 1], real_labels[d_steps - 1],
                                jax.lax.stop_gradient(fake), latents, jax.random.fold_in(key_last, 2))

      def loss_fn(fake, features, adapter_params):
        logits, _, d_stats = self.discriminate(d.params, d.batch_stats, fake, latents.labels)
        adversarial = self.objective.g_loss(logits)
        reconstruction, feature = self.losses(fake, features, teacher_out, teacher_features,
                                              adapter_params)
        loss = (self.gan_weight * adversarial + self.reconstruction_weight * reconstruction
                + self.feature_weight * feature)
        return loss, (d_stats, adversarial, reconstruction, feature)

      g, adapters, _, (d_stats, adversarial, reconstruction, feature) = update_student(
          self.g_tx, g, g_stats, state.adapters, pull_back, loss_fn, fake, features)
      metrics.update(g_loss=adversarial, reconstruction_loss=reconstruction,
                     feature_loss=feature)
      return DistillState(step=state.step + 1, g=g, d=d.replace(batch_stats=d_stats),
                          adapters=adapters, teacher=state.teacher), metrics

    return step

  def reconstruction_error(self, state: DistillState, key, n: int) -> jax.Array:
    """mean |student(z) - teacher(z)| over n latents drawn from `key`, each net sampling as it
    does for evaluation (no statistics updated)."""
    latents = self.draw_latents(key, n)
    teacher_out, _ = self.teacher_forward(state.teacher, latents)
    return jnp.mean(jnp.abs(self.generate(state, latents) - teacher_out))
