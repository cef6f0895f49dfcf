"""Distillation of a trained pix2pix generator into a slimmer student (GAN Compression's recipe
for paired data, Li et al. 2020, mit-han-lab/gan-compression's distillers), on the shared loop:
trainer 'distill_pix2pix', configs/distill_pix2pix.py.

The teacher is the newest checkpoint of the pix2pix run in `distill.teacher_workdir`, read once
when the state is first built and kept frozen inside it (as trainers/distillation.py keeps a
DCGAN teacher: a resume, an evaluation or `python -m jaxgan.compress --method=dense` of this
run reproduces it). The student is this config's generator: the teacher's kind and depth
(`model.generator`, `unet_downs` / `resnet_blocks`, `norm`), its own width `model.g_features`.
Each step, on a pair (a, b):

  teacher_b, teacher_l = teacher(a)                 (its sampling mode, no statistics updated)
  fake_b, student_l = student(a)                    (training mode, dropout on)
  D: pix2pix's update on (a, fake_b) and (a, b)     (PairedTranslation.update_discriminator)
  G: gan_weight * gan(D'(a, fake_b), real)
     + reconstruction_weight * mean |fake_b - target|
     + feature_weight * sum_l mean (A_l(student_l) - teacher_l)^2

where target is the teacher's translation (`distill.reconstruction_target='teacher'`, GAN
Compression's choice for unpaired data and configs/distill_pix2pix.py's, which says why) or
the ground truth b ('ground_truth', GAN Compression's choice for paired data), l runs over the generator's normalisation layers (their outputs, before the
activation that follows) and A_l is a learned 1x1 map from the student's width to the
teacher's, trained with the student. With `distill.init_discriminator` D starts from the
teacher run's, as GAN Compression's does.

The run translates (previews, the translation evaluator, `python -m jaxgan.translate`) with the
student; `python -m jaxgan.compress --method=dense` writes the student and D alone as a plain
pix2pix run.
"""
from typing import List

import flax
import jax
import jax.numpy as jnp

from jaxgan import objectives
from jaxgan.architectures.image_to_image import Norm, make_translator
from jaxgan.config_checks import bool_field, choice, float_field, get, require
from jaxgan.trainers import TRAINERS
from jaxgan.trainers.distillation import (FrozenNet, apply_with_features, feature_distance,
                                          frozen, init_adapters, teacher_discriminator,
                                          update_student)
from jaxgan.trainers.image_to_image import PREVIEW_ROWS, PairedTranslation, validate_common
from jaxgan.trainers.players import Player
from jaxgan.trainers.restored import (load_trained_translator, read_translator_config,
                                      require_same_fields)

FIELD = 'distill.teacher_workdir'
TARGETS = ('ground_truth', 'teacher')
# What the student shares with its teacher; only the width (model.g_features) and dropout differ.
SHARED_MODEL_FIELDS = ('generator', 'unet_downs', 'resnet_blocks', 'norm')
SHARED_DATA_FIELDS = ('name', 'folder', 'image_size', 'crop_size')


@flax.struct.dataclass
class Pix2PixDistillState:
  step: jax.Array
  g: Player          # the student
  d: Player
  adapters: Player   # the 1x1 maps, student width -> teacher width, one per feature layer
  teacher: FrozenNet


def norm_layers(module, image) -> List[str]:
  """Names of the normalisation layers of an image-to-image generator (whose outputs are
  distilled), from one traced call on `image` [1, H, W, C]."""
  net = getattr(module, 'module', module)   # through a MixedPrecision wrapper

  def capture(x):
    variables = net.init({'params': jax.random.PRNGKey(0)}, x, train=False)
    _, state = net.apply(variables, x, train=False, mutable=['intermediates'],
                         capture_intermediates=lambda mdl, method: isinstance(mdl, Norm))
    return state['intermediates']
  return list(jax.eval_shape(capture, image).keys())


def validate_distill_pix2pix_config(config) -> None:
  validate_common(config)
  for name in ('gan_weight', 'reconstruction_weight', 'feature_weight'):
    float_field(config, f'distill.{name}', 0.0, 1e6, low_inclusive=True)
  choice(config, 'distill.reconstruction_target', TARGETS)
  get(config, FIELD)
  bool_field(config, 'distill.init_discriminator')
  require('quantize' not in config,
          'a distill_pix2pix run is not quantized itself: export the student with python -m '
          'jaxgan.compress --method=dense, then compress that run with --method=int8_weights')


@TRAINERS.register('distill_pix2pix')
class Pix2PixDistillationTrainer(PairedTranslation):

  validate_config = staticmethod(validate_distill_pix2pix_config)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    distill = config.distill
    self.teacher_workdir = distill.teacher_workdir
    self.teacher_config = read_translator_config(self.teacher_workdir, FIELD)
    self.check_teacher(self.teacher_config)
    self.teacher_generator = make_translator(self.teacher_config.model, self.shape_a,
                                             self.shape_b[-1])
    self.teacher_uses_batch_stats = self.teacher_config.model.sample_statistics == 'batch'
    example = jnp.zeros((1,) + self.shape_a, jnp.float32)
    self.layers = norm_layers(self.generator, example)
    self.gan_weight = float(distill.gan_weight)
    self.reconstruction_weight = float(distill.reconstruction_weight)
    self.feature_weight = float(distill.feature_weight)
    self.to_ground_truth = distill.reconstruction_target == 'ground_truth'
    self.init_discriminator = bool(distill.init_discriminator)
    # Restored here, outside any trace: `init` is compiled, and puts these arrays in the state.
    self._teacher = load_trained_translator(self.teacher_workdir, FIELD, data_info)

  def check_teacher(self, teacher_config) -> None:
    who = f'the teacher in {FIELD}'
    require_same_fields(self.config, teacher_config, 'data', SHARED_DATA_FIELDS, who,
                        'the student learns on its teacher\'s data')
    require_same_fields(self.config, teacher_config, 'model', SHARED_MODEL_FIELDS, who,
                        'the student differs from its teacher in width only')

  def teacher(self):
    """The teacher run, as restored from distill.teacher_workdir."""
    return self._teacher

  # -- nets ---------------------------------------------------------------------------------
  def student_forward(self, params, batch_stats, images, key, *, train=True):
    rngs = {'dropout': key} if train else None
    return apply_with_features(self.generator, params, batch_stats, (images,), self.layers,
                               train=train, rngs=rngs)

  def teacher_forward(self, teacher: FrozenNet, images):
    """(translation, features) of the frozen teacher, sampling as its run translates."""
    train = self.teacher_uses_batch_stats
    rngs = {'dropout': jax.random.PRNGKey(0)} if train else None
    out, features, _ = apply_with_features(self.teacher_generator, teacher.params,
                                           teacher.batch_stats, (images,), self.layers,
                                           train=train, update_stats=False, rngs=rngs)
    return jax.lax.stop_gradient(out), jax.lax.stop_gradient(features)

  # -- protocol -----------------------------------------------------------------------------
  def init_float(self, key, example_batch) -> Pix2PixDistillState:
    teacher_run = self.teacher()
    base = super().init_float(key, example_batch)
    teacher = frozen(teacher_run.state.g)
    d = base.d
    if self.init_discriminator:
      d = teacher_discriminator(teacher_run.state.d, d, self.d_tx, FIELD)
    a = example_batch['a'][0, :1]
    _, student_features, _ = jax.eval_shape(
        lambda: self.student_forward(base.g.params, base.g.batch_stats, a, None, train=False))
    _, teacher_features = jax.eval_shape(lambda: self.teacher_forward(teacher, a))
    adapter_params = init_adapters(key, student_features, teacher_features)
    adapters = Player(adapter_params, {}, self.g_tx.init(adapter_params))
    return Pix2PixDistillState(step=base.step, g=base.g, d=d, adapters=adapters, teacher=teacher)

  def make_float_step(self, phase: int = 0):
    del phase

    def step(state: Pix2PixDistillState, batch, key):
      real_a, real_b = batch['a'][0], batch['b'][0]
      g = state.g
      teacher_b, teacher_features = self.teacher_forward(state.teacher, real_a)
      target = real_b if self.to_ground_truth else teacher_b

      def generate(params):
        fake, features, stats = self.student_forward(params, g.batch_stats, real_a, key)
        return (fake, features), stats

      (fake_b, features), pull_back, g_stats = jax.vjp(generate, g.params, has_aux=True)
      d_loss, d = self.update_discriminator(state.d, real_a, real_b, fake_b)

      def g_loss_fn(fake, features, adapter_params):
        adversarial, d_stats = self.generator_gan_loss(d, real_a, fake)
        reconstruction = objectives.l1_distance(fake, target)
        feature = feature_distance(adapter_params, features, teacher_features)
        loss = (self.gan_weight * adversarial + self.reconstruction_weight * reconstruction
                + self.feature_weight * feature)
        return loss, (d_stats, adversarial, reconstruction, feature)

      new_g, adapters, g_loss, (d_stats, adversarial, reconstruction, feature) = update_student(
          self.g_tx, g, g_stats, state.adapters, pull_back, g_loss_fn, fake_b, features)
      metrics = {'d_loss': d_loss, 'g_loss': g_loss, 'g_gan': adversarial,
                 'reconstruction_loss': reconstruction, 'feature_loss': feature,
                 'l1_to_teacher': objectives.l1_distance(fake_b, teacher_b)}
      return Pix2PixDistillState(state.step + 1, new_g, d.replace(batch_stats=d_stats),
                                 adapters, state.teacher), metrics

    return step

  def teacher_translate(self, state: Pix2PixDistillState, images):
    return self.teacher_forward(state.teacher, images)[0]

  def previews(self, state: Pix2PixDistillState, preview_batch, key):
    """'samples': rows of (input a | student G(a) | teacher's translation | target b)."""
    del key
    a, b = preview_batch['a'][:PREVIEW_ROWS], preview_batch['b'][:PREVIEW_ROWS]
    return {'samples': self._preview_grid([a, self.translate(state, a),
                                           self.teacher_translate(state, a), b])}
