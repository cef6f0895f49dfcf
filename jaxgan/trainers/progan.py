"""Progressive growing of GANs (Karras et al. 2018) on the phase protocol.

Phases: 'stable_4', then for every resolution R above it 'fade_R' and 'stable_R', each of
`progan.images_per_phase / batch` steps (the last phase runs until train.num_steps), where the
batch is the resolution's entry of `progan.batch_sizes` (4x4 first; empty: train.batch_size),
the paper's minibatch per resolution.
Entering a phase builds the nets of its resolution (jaxgan/architectures/progan.py), draws the
new layers from the phase key and copies every existing parameter by name (the EMA generator
too); both Adam states restart at every resolution change (entering a fade phase) and are
carried within a resolution (fade -> stable only drops the lower to-RGB / from-RGB).

A step: alpha = (step - phase start) / phase length in a fade phase (1 when stable); real
images box-downsampled to the phase's resolution and, fading, blended with their
2x-down-then-up version by alpha; one WGAN-GP critic step (lambda `progan.gp_weight`) with the
drift term `progan.drift` * D(real)^2, then one generator step on fresh noise against the
updated critic; the EMA of G (`progan.ema`) follows. Samples and evaluation use the EMA
generator, upsampled (nearest) to the data's size.
"""
import math
from typing import Dict, List

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import optimizers, regularizers
from jaxgan.architectures import progan as nets
from jaxgan.config_checks import float_field, get, int_field, require, widths
from jaxgan.errors import ConfigError
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Phase, Trainer
from jaxgan.trainers.players import Player, apply_net


@flax.struct.dataclass
class ProGANState:
  step: jax.Array
  g: Player
  d: Player
  g_ema: dict


def carry_by_name(old, new):
  """`new` with every leaf whose key path (and shape) exists in `old` replaced by old's."""
  old_leaves = {jax.tree_util.keystr(path): leaf
                for path, leaf in jax.tree_util.tree_flatten_with_path(old)[0]}

  def pick(path, leaf):
    previous = old_leaves.get(jax.tree_util.keystr(path))
    if previous is not None and previous.shape == leaf.shape and previous.dtype == leaf.dtype:
      return previous
    return leaf
  return jax.tree_util.tree_map_with_path(pick, new)


def _power_of_two(n: int) -> bool:
  return n >= 4 and n & (n - 1) == 0


def validate_progan_config(config) -> None:
  """The ProGAN family's fields (configs/progan_common.py)."""
  int_field(config, 'model.latent_dim', 1)
  level_widths = widths(config, 'model.widths')
  size = get(config, 'data.image_size')
  if size:
    require(_power_of_two(size), f'data.image_size={size} must be a power of two >= 4 for '
            'ProGAN (e.g. --config.data.image_size=32 for 28x28 digits)')
    levels = int(math.log2(size)) - 1
    require(len(level_widths) >= levels, f'model.widths needs one width per resolution from 4 '
            f'to {size} ({levels}), got {len(level_widths)}')
  group = int_field(config, 'model.mbstd_group', 1)
  int_field(config, 'progan.images_per_phase', 1)
  images = get(config, 'progan.images_per_phase')
  batch_sizes = tuple(get(config, 'progan.batch_sizes'))
  if batch_sizes:
    widths(config, 'progan.batch_sizes')
    if size:
      require(len(batch_sizes) >= levels, f'progan.batch_sizes needs one minibatch per '
              f'resolution from 4 to {size} ({levels}), got {len(batch_sizes)}')
    named = [(f'progan.batch_sizes[{i}]', b) for i, b in enumerate(batch_sizes)]
  else:
    named = [('train.batch_size', get(config, 'train.batch_size'))]
  for name, batch in named:
    require(batch % min(group, batch) == 0,
            f'{name}={batch} must be a multiple of model.mbstd_group={group}')
    require(images >= batch, f'progan.images_per_phase={images} must be at least {name}={batch} '
            '(one step per phase)')
  float_field(config, 'progan.gp_weight', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'progan.drift', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'progan.ema', 0.0, 1.0, low_inclusive=True)
  optimizers.validate(config, ('lr',))


@TRAINERS.register('progan')
class ProGANTrainer(Trainer):

  validate_config = staticmethod(validate_progan_config)

  def __init__(self, config, data_info):
    self.config = config
    self.image_shape = tuple(data_info.image_shape)
    size = self.image_shape[0]
    if len(self.image_shape) != 3 or self.image_shape[1] != size or not _power_of_two(size):
      raise ConfigError(f'ProGAN needs square images of a power-of-two size, got '
                        f'{self.image_shape}: set data.image_size (e.g. 32 for 28x28 digits)')
    self.size = size
    self.num_levels = int(math.log2(size)) - 1      # 4 .. size
    self.widths = tuple(config.model.widths)
    if len(self.widths) < self.num_levels:
      raise ConfigError(f'model.widths needs {self.num_levels} widths (4 to {size}), '
                        f'got {len(self.widths)}')
    self.channels = self.image_shape[-1]
    self.latent_dim = int(config.model.latent_dim)
    self.group = int(config.model.mbstd_group)
    sizes = tuple(config.progan.batch_sizes) or (int(config.train.batch_size),) * self.num_levels
    self.batch_sizes = tuple(int(b) for b in sizes[:self.num_levels])
    self.gp_weight = float(config.progan.gp_weight)
    self.drift = float(config.progan.drift)
    self.ema = float(config.progan.ema)
    self.tx = make_optimizer(config.optim, config.optim.lr, config.train.num_steps)
    self.grid_size = int(config.train.grid_size)
    # (level, fade) of each phase, and where each phase starts.
    self.layout = [(0, False)]
    for level in range(1, self.num_levels):
      self.layout += [(level, True), (level, False)]
    images = int(config.progan.images_per_phase)
    self.phase_steps = [max(1, images // self.batch_sizes[level]) for level, _ in self.layout]
    self.starts = [sum(self.phase_steps[:i]) for i in range(len(self.layout))]

  # -- nets -----------------------------------------------------------------------------------
  def generator(self, level: int, fade: bool):
    return nets.ProGenerator(level=level, fade=fade, widths=self.widths, channels=self.channels)

  def discriminator(self, level: int, fade: bool):
    return nets.ProDiscriminator(level=level, fade=fade, widths=self.widths,
                                 group_size=self.group)

  def _build(self, key, level: int, fade: bool):
    g_key, d_key = jax.random.split(key)
    r = nets.resolution(level)
    z = jnp.zeros((2, self.latent_dim), jnp.float32)
    x = jnp.zeros((self.group, r, r, self.channels), jnp.float32)
    g = self.generator(level, fade).init(g_key, z, 1.0)['params']
    d = self.discriminator(level, fade).init(d_key, x, 1.0)['params']
    return g, d

  def level_of(self, g_params):
    """(level, fade) of a generator's parameters: static, read from their names."""
    level = max(int(math.log2(int(name.split('_')[1]) // 4))
                for name in g_params if name.startswith('block_'))
    fade = level > 0 and f'to_rgb_{nets.resolution(level - 1)}' in g_params
    return level, fade

  def alpha(self, step, index: int):
    """The fade-in weight at `step` in phase `index` (1 in stable phases)."""
    level, fade = self.layout[index]
    if not fade:
      return jnp.ones((), jnp.float32)
    return jnp.clip((step - self.starts[index]).astype(jnp.float32) / self.phase_steps[index],
                    0.0, 1.0)

  def real_images(self, images, level: int, fade: bool, alpha):
    """Data-size images -> the phase's resolution, faded like the generator's output."""
    x = nets.downsample_to(images, nets.resolution(level))
    if fade:
      low = nets.upsample2x(nets.downsample2x(x))
      x = low + alpha * (x - low)
    return x

  # -- protocol -------------------------------------------------------------------------------
  def phases(self) -> List[Phase]:
    names = [('fade_' if fade else 'stable_') + str(nets.resolution(level))
             for level, fade in self.layout]
    return [Phase(name, self.phase_steps[i] if i < len(names) - 1 else None, 1,
                  self.batch_sizes[level])
            for i, (name, (level, _)) in enumerate(zip(names, self.layout))]

  def init(self, key, example_batch) -> ProGANState:
    del example_batch
    g, d = self._build(key, 0, False)
    return ProGANState(step=jnp.zeros((), jnp.int32), g=Player(g, {}, self.tx.init(g)),
                       d=Player(d, {}, self.tx.init(d)), g_ema=g)

  def enter_phase(self, state: ProGANState, index: int, key) -> ProGANState:
    level, fade = self.layout[index]
    g_new, d_new = self._build(key, level, fade)
    g = carry_by_name(state.g.params, g_new)
    d = carry_by_name(state.d.params, d_new)
    ema = carry_by_name(state.g_ema, g)
    if fade:     # a new resolution: Adam starts afresh
      g_opt, d_opt = self.tx.init(g), self.tx.init(d)
    else:        # same resolution: keep the moments of the parameters that stay
      g_opt = carry_by_name(state.g.opt_state, self.tx.init(g))
      d_opt = carry_by_name(state.d.opt_state, self.tx.init(d))
    return ProGANState(step=state.step, g=Player(g, {}, g_opt), d=Player(d, {}, d_opt),
                       g_ema=ema)

  def make_step(self, index: int = 0):
    level, fade = self.layout[index]
    generator, discriminator = self.generator(level, fade), self.discriminator(level, fade)

    def critic_fn(params, x, alpha):
      return apply_net(discriminator, params, {}, x, alpha, train=True)[0]

    def step(state: ProGANState, batch, key):
      alpha = self.alpha(state.step, index)
      real = self.real_images(batch['image'][0], level, fade, alpha)
      n = real.shape[0]
      d_key, g_key, gp_key = jax.random.split(key, 3)
      g_params = state.g.params
      fake = generator.apply({'params': g_params},
                             jax.random.normal(d_key, (n, self.latent_dim)), alpha)
      fake = jax.lax.stop_gradient(fake)

      def d_loss_fn(params):
        real_logits = critic_fn(params, real, alpha)
        fake_logits = critic_fn(params, fake, alpha)
        wasserstein = fake_logits.mean() - real_logits.mean()
        penalty = regularizers.gradient_penalty(lambda x: critic_fn(params, x, alpha),
                                                real, fake, gp_key)
        drift = jnp.mean(jnp.square(real_logits))
        loss = wasserstein + self.gp_weight * penalty + self.drift * drift
        return loss, {'d_loss': wasserstein, 'penalty': penalty, 'drift': drift,
                      'd_real': real_logits.mean(), 'd_fake': fake_logits.mean()}

      d_grads, metrics = jax.grad(d_loss_fn, has_aux=True)(state.d.params)
      updates, d_opt = self.tx.update(d_grads, state.d.opt_state, state.d.params)
      d_params = optax.apply_updates(state.d.params, updates)

      def g_loss_fn(params):
        images = generator.apply({'params': params},
                                 jax.random.normal(g_key, (n, self.latent_dim)), alpha)
        return -critic_fn(d_params, images, alpha).mean()

      g_loss, g_grads = jax.value_and_grad(g_loss_fn)(g_params)
      updates, g_opt = self.tx.update(g_grads, state.g.opt_state, g_params)
      g_params = optax.apply_updates(g_params, updates)
      ema = jax.tree.map(lambda e, p: self.ema * e + (1.0 - self.ema) * p, state.g_ema, g_params)
      metrics.update(g_loss=g_loss, alpha=alpha)
      return ProGANState(step=state.step + 1, g=Player(g_params, {}, g_opt),
                         d=Player(d_params, {}, d_opt), g_ema=ema), metrics

    return step

  def sample(self, state: ProGANState, key, n: int):
    """n samples of the EMA generator at the state's resolution (and fade weight), upsampled
    (nearest) to the data's size."""
    level, fade = self.level_of(state.g_ema)
    index = self.layout.index((level, fade))
    alpha = self.alpha(state.step, index)
    z = jax.random.normal(key, (n, self.latent_dim), jnp.float32)
    images = self.generator(level, fade).apply({'params': state.g_ema}, z, alpha)
    return jnp.clip(nets.upsample_to(images, self.size), -1.0, 1.0)

  def functions(self) -> Dict:
    return {'sample': self.sample}

  def previews(self, state: ProGANState, preview_batch, key):
    del preview_batch
    return {'samples': self.sample(state, key, self.grid_size)}
