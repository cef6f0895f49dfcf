"""Image-to-image translation on the shared loop: CycleGAN (`trainer='cyclegan'`, unpaired)
and pix2pix (`trainer='pix2pix'`, paired), as junyanz/pytorch-CycleGAN-and-pix2pix trains
them (models/cycle_gan_model.py, models/pix2pix_model.py). One phase; the nets come from
jaxgan/architectures/image_to_image.py, the losses from jaxgan/objectives.py.

CycleGAN, one step on real_a, real_b (G_ab: A -> B, G_ba: B -> A; D_a judges domain A,
D_b domain B; the reference calls them G_A, G_B, D_B, D_A):
  fake_b = G_ab(a), rec_a = G_ba(fake_b), fake_a = G_ba(b), rec_b = G_ab(fake_a)
  G loss = gan(D_b(fake_b), real) + gan(D_a(fake_a), real)
         + lambda_a |rec_a - a| + lambda_b |rec_b - b|                        (cycle)
         + identity * (lambda_b |G_ab(b) - b| + lambda_a |G_ba(a) - a|)      (identity)
  then, with the fakes detached and passed through each discriminator's image pool:
  D loss = (gan(D_b(b), real) + gan(D_b(pool_b(fake_b)), fake)) / 2 + the same for D_a
Both G updates are one optimizer step over both generators' parameters, both D updates one
over both discriminators', each from the state the step started from (the G step does not
see the updated discriminators), as in the reference.

The image pool (Shrivastava et al. 2017; the reference's ImagePool(50)) lives in the train
state, so a resumed run draws exactly what an uninterrupted one does: until it holds
`pool_size` images every fake is stored and passed on; once full, each fake is, with
probability 1/2, swapped for a uniformly chosen stored one (which is passed on instead), else
passed on as it is. Its randomness comes from the step's key; the batch is walked in order.

pix2pix, one step on (a, b): fake_b = G(a) once, in training mode (dropout on); the
discriminator sees the input concatenated with the output image:
  D loss = (gan(D(a, fake_b), fake) + gan(D(a, b), real)) / 2     (first, as the reference)
  G loss = gan(D'(a, fake_b), real) + l1_weight |fake_b - b|     (D' the updated D)

`gan` is `objectives.patch_gan_loss` on every patch: 'least_squares' (LSGAN, CycleGAN's
default) or 'non_saturating' (vanilla BCE, pix2pix's). Translation for previews, evaluators
and the translate command runs the generators in evaluation mode (BatchNorm running
averages, no dropout) unless `model.sample_statistics='batch'` (the reference's test mode
without --eval: batch statistics, and pix2pix's dropout on, with a fixed key).

An int8 generator (`python -m jaxgan.compress --method=int8_weights`): a config with the group
`quantize` (`quantize.activations=False`: weights only) makes either trainer's state a
trainers/quantized.py QuantizedState of the generator(s) alone, each kernel int8 with one
float scale per output channel (jaxgan/quantization.py), dequantized whenever it translates;
its params and batch_stats are keyed by direction for CycleGAN, as in the float state. Such a
run translates and is evaluated like its float run, and is never trained.
"""
from typing import Any, Dict

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import objectives, optimizers
from jaxgan.architectures.image_to_image import (NORMS, TRANSLATORS, make_patch_discriminator,
                                                 make_translator)
from jaxgan.config_checks import bool_field, choice, float_field, get, int_field, require
from jaxgan.errors import ConfigError
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Trainer
from jaxgan.trainers.players import Player, with_compute_dtype

PREVIEW_ROWS = 8


@flax.struct.dataclass
class ImagePool:
  images: jax.Array   # [pool_size, H, W, C]
  count: jax.Array    # images stored so far (at most pool_size)


def empty_pool(size: int, image_shape) -> ImagePool:
  return ImagePool(jnp.zeros((size,) + tuple(image_shape), jnp.float32),
                   jnp.zeros((), jnp.int32))


def query_pool(pool: ImagePool, images, key):
  """(images to show the discriminator, updated pool) for a batch of fakes [B, H, W, C]."""
  size = pool.images.shape[0]
  if size == 0:
    return images, pool

  def one(carry, inputs):
    stored, count = carry
    image, i = inputs
    draw_key, index_key = jax.random.split(jax.random.fold_in(key, i))
    full = count >= size
    swap = full & (jax.random.uniform(draw_key) > 0.5)
    index = jax.random.randint(index_key, (), 0, size)
    shown = jnp.where(swap, stored[index], image)
    slot = jnp.where(full, index, count)
    stored = jnp.where(full & ~swap, stored, stored.at[slot].set(image))
    return (stored, count + jnp.where(full, 0, 1)), shown

  (stored, count), shown = jax.lax.scan(one, (pool.images, pool.count),
                                        (images, jnp.arange(images.shape[0])))
  return shown, ImagePool(stored, count)


@flax.struct.dataclass
class CycleGANState:
  step: jax.Array
  g: Player        # params {'a_to_b', 'b_to_a'}: one optimizer over both generators
  d: Player        # params {'a', 'b'}: D_a judges domain A, D_b domain B
  pool_a: ImagePool   # fakes of domain A (from G_ba), shown to D_a
  pool_b: ImagePool


@flax.struct.dataclass
class Pix2PixState:
  step: jax.Array
  g: Player
  d: Player


def run_net(module, params, batch_stats, x, *, train: bool, key=None, update_stats=True):
  """(output, batch_stats): `module` on x; dropout draws from `key` in training mode."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  rngs = {'dropout': key} if train and key is not None else None
  if train and batch_stats:
    out, updates = module.apply(variables, x, train=True, mutable=['batch_stats'], rngs=rngs)
    return out, (updates['batch_stats'] if update_stats else batch_stats)
  return module.apply(variables, x, train=train, rngs=rngs), batch_stats


def _init_net(module, key, x):
  variables = module.init({'params': key, 'dropout': key}, x, train=False)
  return variables['params'], variables.get('batch_stats', {})


def validate_common(config) -> None:
  """The fields CycleGAN and pix2pix share (configs/image_to_image_common.py)."""
  choice(config, 'data.source', ('image_to_image',))
  int_field(config, 'data.crop_size', 0)
  bool_field(config, 'data.flip')
  choice(config, 'model.generator', TRANSLATORS.names())
  int_field(config, 'model.g_features', 1)
  int_field(config, 'model.d_features', 1)
  int_field(config, 'model.resnet_blocks', 0)
  int_field(config, 'model.unet_downs', 5)
  int_field(config, 'model.d_layers', 1)
  choice(config, 'model.norm', NORMS)
  float_field(config, 'model.dropout', 0.0, 1.0, low_inclusive=True)
  require(config.model.dropout < 1.0, 'model.dropout must be below 1')
  choice(config, 'model.sample_statistics', ('running', 'batch'))
  choice(config, 'objective', objectives.PATCH_GAN_OBJECTIVES)
  optimizers.validate(config, ('g_lr', 'd_lr'))
  if 'quantize' in config:   # an int8 generator, written by python -m jaxgan.compress
    require(get(config, 'quantize.activations') is False,
            'quantize.activations must be false for an image-to-image run: its int8 generator '
            'has int8 weights and float activations (int8 inputs need a DCGAN generator)')


class _ImageToImage(Trainer):

  def __init__(self, config, data_info):
    if not hasattr(data_info, 'target_shape'):
      raise ConfigError(f'trainer {config.trainer!r} needs two domains of images: set '
                        'data.source=image_to_image')
    self.config = config
    self.shape_a = tuple(data_info.image_shape)
    self.shape_b = tuple(data_info.target_shape)
    self.paired = bool(data_info.paired)
    self.objective = config.objective
    self.eval_with_batch_stats = config.model.sample_statistics == 'batch'
    dtype = config.train.compute_dtype
    self.wrap = lambda module: with_compute_dtype(module, dtype)
    steps = config.train.num_steps
    self.g_tx = make_optimizer(config.optim, config.optim.g_lr, steps)
    self.d_tx = make_optimizer(config.optim, config.optim.d_lr, steps)
    self.int8_weights = 'quantize' in config

  directions = ('a_to_b',)

  def init(self, key, example_batch):
    """The state before the first step; for an int8 run, the structure compress fills in."""
    state = self.init_float(key, example_batch)
    return self.quantize(state) if self.int8_weights else state

  def quantize(self, state):
    """The generator(s) of a trained float state, int8 weights (a QuantizedState)."""
    from jaxgan.quantization import quantize_params
    from jaxgan.trainers.quantized import QuantizedState
    return QuantizedState(step=jnp.asarray(state.step, jnp.int32),
                          params=quantize_params(state.g.params),
                          batch_stats=state.g.batch_stats, act_scales={})

  def generator_variables(self, state):
    """(params, batch_stats) of the generator(s) in float: an int8 state's kernels dequantized."""
    if self.int8_weights:
      from jaxgan.quantization import dequantize_params
      return dequantize_params(state.params), state.batch_stats
    return state.g.params, state.g.batch_stats

  def make_step(self, phase: int = 0):
    if self.int8_weights:
      raise ConfigError(f'an int8 {self.config.trainer} generator translates and is evaluated, '
                        'not trained: fine-tune the float run, then compress it again with '
                        'python -m jaxgan.compress --method=int8_weights')
    return self.make_float_step(phase)

  def functions(self) -> Dict[str, Any]:
    """{'translate_a_to_b': (state, images) -> images, and for CycleGAN 'translate_b_to_a'}."""
    return {f'translate_{d}': (lambda state, images, d=d: self.translate(state, images, d))
            for d in self.directions}

  @staticmethod
  def _preview_grid(columns):
    """[rows, len(columns), H, W, C]; one-channel columns repeated to the widest's channels."""
    channels = max(c.shape[-1] for c in columns)
    columns = [jnp.repeat(c, channels, -1) if c.shape[-1] != channels else c for c in columns]
    return jnp.stack(columns, axis=1)


@TRAINERS.register('cyclegan')
class CycleGANTrainer(_ImageToImage):

  directions = ('a_to_b', 'b_to_a')

  @staticmethod
  def validate_config(config) -> None:
    validate_common(config)
    float_field(config, 'cycle.weight_a', 0.0, 1e6, low_inclusive=True)
    float_field(config, 'cycle.weight_b', 0.0, 1e6, low_inclusive=True)
    float_field(config, 'cycle.identity', 0.0, 1e6, low_inclusive=True)
    int_field(config, 'cycle.pool_size', 0)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    model, cycle = config.model, config.cycle
    self.g_ab = self.wrap(make_translator(model, self.shape_a, self.shape_b[-1]))
    self.g_ba = self.wrap(make_translator(model, self.shape_b, self.shape_a[-1]))
    self.d_a = self.wrap(make_patch_discriminator(model, self.shape_a))
    self.d_b = self.wrap(make_patch_discriminator(model, self.shape_b))
    self.weight_a, self.weight_b = float(cycle.weight_a), float(cycle.weight_b)
    self.identity = float(cycle.identity)
    self.pool_size = int(cycle.pool_size)
    if self.identity > 0 and self.shape_a[-1] != self.shape_b[-1]:
      raise ConfigError(f'the identity loss needs domains with the same channels (A has '
                        f'{self.shape_a[-1]}, B {self.shape_b[-1]}); set --config.cycle.identity=0')

  def init_float(self, key, example_batch) -> CycleGANState:
    a, b = example_batch['a'][0, :1], example_batch['b'][0, :1]
    keys = jax.random.split(key, 4)
    g_params, g_stats, d_params, d_stats = {}, {}, {}, {}
    for name, module, x, k in (('a_to_b', self.g_ab, a, keys[0]), ('b_to_a', self.g_ba, b, keys[1])):
      g_params[name], stats = _init_net(module, k, x)
      if stats:
        g_stats[name] = stats
    for name, module, x, k in (('a', self.d_a, a, keys[2]), ('b', self.d_b, b, keys[3])):
      d_params[name], stats = _init_net(module, k, x)
      if stats:
        d_stats[name] = stats
    return CycleGANState(
        step=jnp.zeros((), jnp.int32),
        g=Player(g_params, g_stats, self.g_tx.init(g_params)),
        d=Player(d_params, d_stats, self.d_tx.init(d_params)),
        pool_a=empty_pool(self.pool_size, self.shape_a),
        pool_b=empty_pool(self.pool_size, self.shape_b))

  # -- terms (also what the tests check against hand values) ---------------------------------
  def cycle_terms(self, real_a, real_b, rec_a, rec_b):
    return {'cycle_a': self.weight_a * objectives.l1_distance(rec_a, real_a),
            'cycle_b': self.weight_b * objectives.l1_distance(rec_b, real_b)}

  def identity_terms(self, real_a, real_b, same_a, same_b):
    """same_b = G_ab(real_b), same_a = G_ba(real_a): each generator should leave images of
    its target domain unchanged; weighted identity x that domain's cycle weight."""
    return {'identity_b': self.identity * self.weight_b * objectives.l1_distance(same_b, real_b),
            'identity_a': self.identity * self.weight_a * objectives.l1_distance(same_a, real_a)}

  def make_float_step(self, phase: int = 0):
    del phase
    gan = lambda logits, real: objectives.patch_gan_loss(self.objective, logits, real)  # noqa: E731

    def step(state: CycleGANState, batch, key):
      real_a, real_b = batch['a'][0], batch['b'][0]
      keys = jax.random.split(key, 8)
      g, d = state.g, state.d
      d_stats = dict(d.batch_stats)

      def g_loss_fn(params):
        stats = dict(g.batch_stats)

        def gen(name, module, x, k):
          out, new = run_net(module, params[name], stats.get(name, {}), x, train=True, key=k)
          if new:
            stats[name] = new
          return out
        # The reference's order: forward(), then the identity images in backward_G.
        fake_b = gen('a_to_b', self.g_ab, real_a, keys[0])
        rec_a = gen('b_to_a', self.g_ba, fake_b, keys[1])
        fake_a = gen('b_to_a', self.g_ba, real_b, keys[2])
        rec_b = gen('a_to_b', self.g_ab, fake_a, keys[3])
        terms = self.cycle_terms(real_a, real_b, rec_a, rec_b)
        if self.identity > 0:
          same_b = gen('a_to_b', self.g_ab, real_b, keys[4])
          same_a = gen('b_to_a', self.g_ba, real_a, keys[5])
          terms.update(self.identity_terms(real_a, real_b, same_a, same_b))
        d_new = dict(d_stats)
        logits_b, new = run_net(self.d_b, d.params['b'], d_stats.get('b', {}), fake_b, train=True)
        if new:
          d_new['b'] = new
        logits_a, new = run_net(self.d_a, d.params['a'], d_stats.get('a', {}), fake_a, train=True)
        if new:
          d_new['a'] = new
        terms['g_a_to_b'] = gan(logits_b, True)
        terms['g_b_to_a'] = gan(logits_a, True)
        loss = sum(terms.values())
        return loss, (terms, fake_a, fake_b, stats, d_new)

      (g_loss, (terms, fake_a, fake_b, g_stats, d_stats)), g_grads = jax.value_and_grad(
          g_loss_fn, has_aux=True)(g.params)
      updates, g_opt = self.g_tx.update(g_grads, g.opt_state, g.params)
      new_g = Player(optax.apply_updates(g.params, updates), g_stats, g_opt)

      shown_b, pool_b = query_pool(state.pool_b, jax.lax.stop_gradient(fake_b), keys[6])
      shown_a, pool_a = query_pool(state.pool_a, jax.lax.stop_gradient(fake_a), keys[7])

      def d_loss_fn(params):
        stats = dict(d_stats)
        losses = {}
        for name, module, real, fake in (('b', self.d_b, real_b, shown_b),
                                         ('a', self.d_a, real_a, shown_a)):
          real_logits, new = run_net(module, params[name], stats.get(name, {}), real, train=True)
          fake_logits, new = run_net(module, params[name], new, fake, train=True)
          if new:
            stats[name] = new
          losses[f'd_{name}'] = objectives.patch_d_loss(self.objective, real_logits, fake_logits)
        return losses['d_a'] + losses['d_b'], (losses, stats)

      (_, (d_terms, d_stats)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d.params)
      updates, d_opt = self.d_tx.update(d_grads, d.opt_state, d.params)
      new_d = Player(optax.apply_updates(d.params, updates), d_stats, d_opt)
      metrics = dict(terms, **d_terms, g_loss=g_loss)
      return CycleGANState(state.step + 1, new_g, new_d, pool_a, pool_b), metrics

    return step

  def translate(self, state, images, direction: str = 'a_to_b'):
    """Images of one domain [N, H, W, C] in [-1, 1] -> the other ('a_to_b' or 'b_to_a')."""
    module = self.g_ab if direction == 'a_to_b' else self.g_ba
    key = jax.random.PRNGKey(0) if self.eval_with_batch_stats else None
    params, stats = self.generator_variables(state)
    out, _ = run_net(module, params[direction], stats.get(direction, {}),
                     images, train=self.eval_with_batch_stats, key=key, update_stats=False)
    return out

  def previews(self, state: CycleGANState, preview_batch, key):
    """'samples': rows of (a | G_ab(a) | G_ba(G_ab(a))); 'b_to_a': (b | G_ba(b) | G_ab(G_ba(b)))."""
    del key
    a, b = preview_batch['a'][:PREVIEW_ROWS], preview_batch['b'][:PREVIEW_ROWS]
    fake_b = self.translate(state, a, 'a_to_b')
    fake_a = self.translate(state, b, 'b_to_a')
    return {'samples': self._preview_grid([a, fake_b, self.translate(state, fake_b, 'b_to_a')]),
            'b_to_a': self._preview_grid([b, fake_a, self.translate(state, fake_a, 'a_to_b')])}


class PairedTranslation(_ImageToImage):
  """pix2pix's nets on pairs: a generator a -> b and a PatchGAN judging (a, b) side by side;
  its init, updates and translation, which pix2pix and its distillation
  (trainers/translation_distillation.py) share."""

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    if not self.paired:
      raise ConfigError(f'{config.trainer} trains on pairs, and {data_info.name!r} is unpaired; '
                        'use configs/cyclegan.py, or a paired dataset (features a and b)')
    model = config.model
    self.generator = self.wrap(make_translator(model, self.shape_a, self.shape_b[-1]))
    pair_shape = self.shape_a[:2] + (self.shape_a[-1] + self.shape_b[-1],)
    self.discriminator = self.wrap(make_patch_discriminator(model, pair_shape))

  def init_float(self, key, example_batch) -> Pix2PixState:
    a, b = example_batch['a'][0, :1], example_batch['b'][0, :1]
    g_key, d_key = jax.random.split(key)
    g_params, g_stats = _init_net(self.generator, g_key, a)
    d_params, d_stats = _init_net(self.discriminator, d_key, jnp.concatenate([a, b], -1))
    return Pix2PixState(step=jnp.zeros((), jnp.int32),
                        g=Player(g_params, g_stats, self.g_tx.init(g_params)),
                        d=Player(d_params, d_stats, self.d_tx.init(d_params)))

  # -- the two updates of a step (also a distillation step's: trainers/translation_distillation.py)
  def update_discriminator(self, d: Player, real_a, real_b, fake_b):
    """(D loss, D after one optimizer step) on (a, fake_b) then (a, b), fake_b detached."""
    def d_loss_fn(params):
      fake_logits, stats = run_net(self.discriminator, params, d.batch_stats,
                                   jnp.concatenate([real_a, jax.lax.stop_gradient(fake_b)], -1),
                                   train=True)
      real_logits, stats = run_net(self.discriminator, params, stats,
                                   jnp.concatenate([real_a, real_b], -1), train=True)
      return objectives.patch_d_loss(self.objective, real_logits, fake_logits), stats

    (d_loss, d_stats), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d.params)
    updates, d_opt = self.d_tx.update(d_grads, d.opt_state, d.params)
    return d_loss, Player(optax.apply_updates(d.params, updates), d_stats, d_opt)

  def generator_gan_loss(self, d: Player, real_a, fake_b):
    """(the G's GAN loss on (a, fake_b) through the updated D, D's batch stats after it)."""
    logits, stats = run_net(self.discriminator, d.params, d.batch_stats,
                            jnp.concatenate([real_a, fake_b], -1), train=True)
    return objectives.patch_gan_loss(self.objective, logits, True), stats

  def translate(self, state, images, direction: str = 'a_to_b'):
    if direction != 'a_to_b':
      raise ValueError('pix2pix translates a_to_b only (its one generator)')
    # The reference's test mode without --eval keeps dropout on: a fixed key keeps it repeatable.
    key = jax.random.PRNGKey(0) if self.eval_with_batch_stats else None
    params, stats = self.generator_variables(state)
    out, _ = run_net(self.generator, params, stats, images,
                     train=self.eval_with_batch_stats, key=key, update_stats=False)
    return out

  def previews(self, state: Pix2PixState, preview_batch, key):
    """'samples': rows of (input a | translation G(a) | target b)."""
    del key
    a, b = preview_batch['a'][:PREVIEW_ROWS], preview_batch['b'][:PREVIEW_ROWS]
    return {'samples': self._preview_grid([a, self.translate(state, a), b])}


@TRAINERS.register('pix2pix')
class Pix2PixTrainer(PairedTranslation):

  @staticmethod
  def validate_config(config) -> None:
    validate_common(config)
    float_field(config, 'pix2pix.l1_weight', 0.0, 1e6, low_inclusive=True)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    self.l1_weight = float(config.pix2pix.l1_weight)

  def make_float_step(self, phase: int = 0):
    del phase

    def step(state: Pix2PixState, batch, key):
      real_a, real_b = batch['a'][0], batch['b'][0]
      g = state.g

      def generate(params):
        return run_net(self.generator, params, g.batch_stats, real_a, train=True, key=key)

      fake_b, pull_back, g_stats = jax.vjp(generate, g.params, has_aux=True)
      d_loss, d = self.update_discriminator(state.d, real_a, real_b, fake_b)

      def g_loss_fn(fake):
        adversarial, stats = self.generator_gan_loss(d, real_a, fake)
        l1 = objectives.l1_distance(fake, real_b)
        return adversarial + self.l1_weight * l1, (stats, adversarial, l1)

      (g_loss, (d_stats, adversarial, l1)), fake_grad = jax.value_and_grad(
          g_loss_fn, has_aux=True)(fake_b)
      (g_grads,) = pull_back(fake_grad)
      updates, g_opt = self.g_tx.update(g_grads, g.opt_state, g.params)
      new_g = Player(optax.apply_updates(g.params, updates), g_stats, g_opt)
      metrics = {'d_loss': d_loss, 'g_loss': g_loss, 'g_gan': adversarial, 'g_l1': l1}
      return Pix2PixState(state.step + 1, new_g, d.replace(batch_stats=d_stats)), metrics

    return step
