"""Inpainting in the DeepFill v2 style (Yu et al. 2019, JiahuiYu/generative_inpainting) on the
shared loop: `trainer='inpainting'`, one phase, images from the 'images' source.

One step on a batch of images x in [-1, 1] (the nets: jaxgan/architectures/inpainting.py):
  m        = one mask per image, drawn inside the compiled step from the step's key
             (`data.mask`: 'free_form', a box OR-ed with brush strokes, or 'box';
             jaxgan/data/masks.py); 1 marks the hole
  x_in     = x * (1 - m)
  coarse, refined = G(x_in, m)          (the two stages; G sees [x_in, ones, m])
  complete = refined * m + x_in         (the known pixels pasted back)
  D update: D judges [x, m] and [complete (detached), m] in one pass (the reference's
            concatenated batch, so the spectral norm's power iteration runs once), hinge loss
            on every output element: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))
  G update: against the updated D (run in training mode, so its power iteration runs again,
            as the reference's separate G graph does):
            l1_weight * (mean|x - coarse| + mean|x - refined|) + gan_weight * -mean(D(complete))
            + hole_l1_weight * (the same two L1 terms averaged over the hole's pixels alone)
            + hole_psnr_weight * -(each stage's PSNR in dB over the hole, per image, averaged)
The L1 terms are over the whole image, as the reference's `ae_loss` (hole_l1_weight and
hole_psnr_weight are 0 in the reference's setting; DeepFill v1 weighted the hole apart). The
PSNR term is the evaluator's hole PSNR itself, a mean over images of -10 log10(hole MSE): a
plain squared error weights the images with the largest errors most, and was measured to lower
the mean L2 while the mean PSNR fell. G's forward runs once and its gradient is pulled back
through that pass (`jax.vjp`), as pix2pix's step does. The
reference draws D's and G's batches apart; here both updates see the same batch and masks
(as the mmagic reimplementation), one D update per G update.

The spectral norm's power-iteration vectors are D's `batch_stats`: they live in the train
state, are checkpointed, and a resumed run continues them exactly.
"""
from typing import Any, Dict

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import optimizers
from jaxgan.architectures.inpainting import (GENERATOR_INITS, PREFILLS,
                                             make_inpainting_discriminator,
                                             make_inpainting_generator)
from jaxgan.config_checks import bool_field, choice, float_field, int_field, require
from jaxgan.data import masks as masks_lib
from jaxgan.errors import ConfigError
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Trainer
from jaxgan.trainers.players import Player, apply_net, with_compute_dtype

PREVIEW_ROWS = 8
_MASK_STREAM = 0x3A5C   # the masks' key: fold_in(step key, this), apart from anything else
_AUGMENT_STREAM = 0x3A5D


def augment_images(key, images):
  """Each image [B, H, W, C] of the batch under its own random symmetry of the square (flips
  and, for square images, a transpose: the 8 of the dihedral group) and its own random
  permutation of the channels: the picture statistics a hole is filled from, kept, and new
  arrangements of them, so that the nets see more than their few training pictures."""
  def one(key, image):
    flip_rows, flip_cols, transpose, channels = jax.random.split(key, 4)
    image = jnp.where(jax.random.bernoulli(flip_rows), image[::-1], image)
    image = jnp.where(jax.random.bernoulli(flip_cols), image[:, ::-1], image)
    if image.shape[0] == image.shape[1]:
      image = jnp.where(jax.random.bernoulli(transpose), jnp.swapaxes(image, 0, 1), image)
    return image[..., jax.random.permutation(channels, image.shape[-1])]
  return jax.vmap(one)(jax.random.split(key, images.shape[0]), images)


@flax.struct.dataclass
class InpaintingState:
  step: jax.Array
  g: Player     # the two-stage generator (no batch statistics)
  d: Player     # SN-PatchGAN; batch_stats holds the spectral norm's u and sigma per layer


def hinge_d_loss(real_logits, fake_logits):
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits):
  return -jnp.mean(fake_logits)


def hole_minus_psnr(images, outputs, masks, floor):
  """-PSNR in dB of `outputs` inside each image's hole (intensities in [0, 1], as the
  evaluator's psnr_hole, with `floor` added to each hole's MSE: inpainting.hole_psnr_floor),
  averaged over the batch; images and outputs in [-1, 1]."""
  hole_values = jnp.maximum(jnp.sum(masks, axis=(1, 2, 3)), 1.0) * images.shape[-1]
  mse = jnp.sum(jnp.square((images - outputs) / 2.0) * masks, axis=(1, 2, 3)) / hole_values
  return jnp.mean(10.0 * jnp.log10(mse + floor))


def validate_inpainting_config(config) -> None:
  """The inpainting family's fields (configs/inpainting.py)."""
  choice(config, 'data.source', ('images',))
  choice(config, 'data.mask', masks_lib.MASK_KINDS)
  channels = int_field(config, 'model.channels', 4)
  require(channels % 4 == 0, f'model.channels must be a multiple of 4 (its quarter is the '
          f'narrowest gated layer), got {channels}')
  bool_field(config, 'model.contextual_attention')
  choice(config, 'model.init', tuple(GENERATOR_INITS))
  choice(config, 'model.prefill', PREFILLS)
  require(not bool_field(config, 'model.contrast_normalise') or config.model.prefill != 'none',
          'model.contrast_normalise scales the correction to a prefilled hole: set model.prefill '
          '(push_pull or biharmonic) too')
  int_field(config, 'model.d_features', 1)
  int_field(config, 'model.d_layers', 1)
  float_field(config, 'inpainting.l1_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'inpainting.gan_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'inpainting.hole_l1_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'inpainting.hole_psnr_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'inpainting.hole_psnr_floor', 1e-10, 1.0)
  bool_field(config, 'inpainting.augment')
  int_field(config, 'eval.mask_seed', 0)
  optimizers.validate(config, ('g_lr', 'd_lr'))


@TRAINERS.register('inpainting')
class InpaintingTrainer(Trainer):

  validate_config = staticmethod(validate_inpainting_config)

  def __init__(self, config, data_info):
    self.config = config
    self.image_shape = tuple(data_info.image_shape)
    height, width, _ = self.image_shape
    if height % 8 or width % 8:
      raise ConfigError(f'the inpainting generator needs image sides that are multiples of 8 '
                        f'(two downsamplings and attention at rate 2); {data_info.name} gives '
                        f'{height}x{width}: set data.image_size')
    dtype = config.train.compute_dtype
    self.generator = with_compute_dtype(make_inpainting_generator(config.model, self.image_shape),
                                        dtype)
    self.discriminator = with_compute_dtype(make_inpainting_discriminator(config.model), dtype)
    self.mask_kind = config.data.mask
    self.l1_weight = float(config.inpainting.l1_weight)
    self.gan_weight = float(config.inpainting.gan_weight)
    self.hole_l1_weight = float(config.inpainting.hole_l1_weight)
    self.hole_psnr_weight = float(config.inpainting.hole_psnr_weight)
    self.hole_psnr_floor = float(config.inpainting.hole_psnr_floor)
    self.augment = config.inpainting.augment
    steps = config.train.num_steps
    self.g_tx = make_optimizer(config.optim, config.optim.g_lr, steps)
    self.d_tx = make_optimizer(config.optim, config.optim.d_lr, steps)

  # -- pieces (also what the tests and the evaluators call) ----------------------------------
  def masks(self, key, batch_size: int):
    height, width, _ = self.image_shape
    return masks_lib.make_masks(self.mask_kind, jax.random.fold_in(key, _MASK_STREAM),
                                batch_size, height, width)

  def stages(self, g_params, images, masks):
    """(coarse, refined) for images [B, H, W, C] in [-1, 1] and masks [B, H, W, 1]."""
    return self.generator.apply({'params': g_params}, images * (1.0 - masks), masks)

  def discriminate(self, d_params, d_stats, images, masks, train: bool):
    return apply_net(self.discriminator, d_params, d_stats,
                     jnp.concatenate([images, masks], -1), train=train)

  def init(self, key, example_batch) -> InpaintingState:
    image = example_batch['image'][0, :1]
    mask = jnp.zeros(image.shape[:-1] + (1,), image.dtype)
    g_key, d_key = jax.random.split(key)
    g_params = self.generator.init({'params': g_key}, image, mask)['params']
    d_vars = self.discriminator.init({'params': d_key}, jnp.concatenate([image, mask], -1),
                                     train=False)
    d_params = d_vars['params']
    return InpaintingState(
        step=jnp.zeros((), jnp.int32),
        g=Player(g_params, {}, self.g_tx.init(g_params)),
        d=Player(d_params, d_vars.get('batch_stats', {}), self.d_tx.init(d_params)))

  def make_step(self, phase: int = 0):
    del phase

    def step(state: InpaintingState, batch, key):
      images = batch['image'][0]
      if self.augment:
        images = augment_images(jax.random.fold_in(key, _AUGMENT_STREAM), images)
      masks = self.masks(key, images.shape[0])
      known = images * (1.0 - masks)
      g, d = state.g, state.d
      hole_values = jnp.maximum(jnp.sum(masks), 1.0) * images.shape[-1]
      (coarse, refined), pull_back = jax.vjp(lambda p: self.stages(p, images, masks), g.params)
      complete = refined * masks + known

      def d_loss_fn(params):
        both = jnp.concatenate([images, jax.lax.stop_gradient(complete)], 0)
        logits, stats = self.discriminate(params, d.batch_stats, both,
                                          jnp.concatenate([masks, masks], 0), train=True)
        real_logits, fake_logits = jnp.split(logits, 2)
        return hinge_d_loss(real_logits, fake_logits), stats

      (d_loss, d_stats), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d.params)
      updates, d_opt = self.d_tx.update(d_grads, d.opt_state, d.params)
      d_params = optax.apply_updates(d.params, updates)

      def g_loss_fn(outputs):
        coarse, refined = outputs
        fake_logits, stats = self.discriminate(d_params, d_stats, refined * masks + known, masks,
                                               train=True)
        l1 = jnp.mean(jnp.abs(images - coarse)) + jnp.mean(jnp.abs(images - refined))
        hole_l1 = (jnp.sum((jnp.abs(images - coarse) + jnp.abs(images - refined)) * masks)
                   / hole_values)
        adversarial = hinge_g_loss(fake_logits)
        loss = (self.l1_weight * l1 + self.hole_l1_weight * hole_l1
                + self.gan_weight * adversarial)
        if self.hole_psnr_weight:   # not traced at all in the reference's setting
          loss += self.hole_psnr_weight * (
              hole_minus_psnr(images, coarse, masks, self.hole_psnr_floor)
              + hole_minus_psnr(images, refined, masks, self.hole_psnr_floor))
        return loss, (stats, l1, adversarial)

      (g_loss, (d_stats, l1, adversarial)), output_grads = jax.value_and_grad(
          g_loss_fn, has_aux=True)((coarse, refined))
      (g_grads,) = pull_back(output_grads)
      updates, g_opt = self.g_tx.update(g_grads, g.opt_state, g.params)
      new_g = Player(optax.apply_updates(g.params, updates), {}, g_opt)
      new_d = Player(d_params, d_stats, d_opt)
      metrics = {'d_loss': d_loss, 'g_loss': g_loss, 'g_l1': l1, 'g_gan': adversarial,
                 'hole_fraction': jnp.mean(masks),
                 'l1_hole': jnp.sum(jnp.abs(images - complete) * masks) / hole_values}
      return InpaintingState(state.step + 1, new_g, new_d), metrics

    return step

  def inpaint(self, state: InpaintingState, images, masks):
    """Images [N, H, W, C] in [-1, 1] with holes masks [N, H, W, 1] (1 = hole) -> the
    completed images: the refined output inside the hole, the input outside it."""
    _, refined = self.stages(state.g.params, images, masks)
    # A prefilled generator's stages add a correction without tanh: clip to the image range.
    return jnp.clip(refined, -1.0, 1.0) * masks + images * (1.0 - masks)

  def functions(self) -> Dict[str, Any]:
    """{'inpaint': (state, images, masks) -> completed images} (metrics/inpainting.py,
    jaxgan/inpaint.py)."""
    return {'inpaint': self.inpaint}

  def previews(self, state: InpaintingState, preview_batch, key):
    """'samples': rows of (input with the hole in white | coarse stage | output | original),
    on masks drawn from the loop's fixed preview key, so every preview has the same holes."""
    images = preview_batch['image'][:PREVIEW_ROWS]
    masks = self.masks(key, images.shape[0])
    coarse, refined = self.stages(state.g.params, images, masks)
    known = images * (1.0 - masks)
    shown_input = known + masks   # white (1) inside the hole
    columns = [shown_input, coarse * masks + known, refined * masks + known, images]
    return {'samples': jnp.stack(columns, axis=1)}
