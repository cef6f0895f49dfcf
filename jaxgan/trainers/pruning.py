"""Channel pruning of a trained DCGAN generator, fine-tuned on the shared loop: trainer 'prune',
configs/prune_dcgan.py; `export_dense` then cuts the pruned channels out (jaxgan/compress.py).

The run in `prune.source_workdir` gives the starting generator and discriminator. Each hidden
layer of the generator keeps the channels whose convolution filters have the largest L1 norms
(Li et al. 2017), as many as a DCGAN of width `prune.g_features` has there, so the pruned net
is exactly a DCGAN generator of that width. The channels kept are 0/1 masks in the state
(`masks[layer]`, one value per output channel). A pruned channel's filter and its BatchNorm
scale and bias are zero, so it outputs exactly zero through BatchNorm and ReLU (in batch- and
running-statistics mode alike), and the next layer's weights on it are zero too; each step of
the fine-tuning (the adversarial step itself) is followed by re-applying the masks, so they
stay zero. The masked net therefore computes what the smaller dense net computes.
"""
from typing import Dict, List, Tuple

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.config_checks import get, int_field, require
from jaxgan.trainers import TRAINERS
from jaxgan.trainers.adversarial import AdversarialTrainer, GANState, validate_gan_config
from jaxgan.trainers.players import Player
from jaxgan.trainers.restored import load_trained_gan, require_same_fields

FIELD = 'prune.source_workdir'
# Fields of the model group that fix the nets' shapes: the pruned run must share them with the
# run it prunes.
SHAPE_FIELDS = ('generator', 'discriminator', 'latent_dim', 'g_features', 'd_features',
                'g_batch_norm', 'd_batch_norm', 'conditioning', 'label_embed_dim', 'minibatch',
                'minibatch_kernels', 'minibatch_kernel_dim', 'pack')


@flax.struct.dataclass
class PrunedGANState:
  step: jax.Array
  g: Player
  d: Player
  masks: Dict[str, jax.Array]   # {layer: [output channels] 0/1}, the hidden layers of G


def hidden_layers(generator) -> List[Tuple[str, str, str]]:
  """(layer, its BatchNorm or '', the layer reading it) for each hidden layer of a DCGAN
  generator (architectures/dcgan.py: project -> bn_0 -> up_0 -> bn_1 -> ... -> up_{n-1})."""
  from jaxgan.architectures.dcgan import factor_size
  net = getattr(generator, 'module', generator)
  _, doublings = factor_size(*net.image_shape[:2])
  layers = ['project'] + [f'up_{i}' for i in range(doublings - 1)]
  return [(layer, f'bn_{i}' if net.use_batch_norm else '', f'up_{i}')
          for i, layer in enumerate(layers)]


def largest_l1_mask(kernel, count: int) -> np.ndarray:
  """0/1 per output channel (the kernel's last axis): the `count` channels whose filters have
  the largest L1 norms (Li et al. 2017), ties to the lower index."""
  kernel = np.asarray(kernel)
  norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(0)
  mask = np.zeros(kernel.shape[-1], np.float32)
  mask[np.argsort(-norms, kind='stable')[:count]] = 1.0
  return mask


def l1_channel_masks(params, layers, widths: Dict[str, int]) -> Dict[str, np.ndarray]:
  """{layer: 0/1 per output channel}: the `widths[layer]` channels of largest filter L1 norm."""
  return {layer: largest_l1_mask(params[layer]['kernel'], widths[layer])
          for layer, _, _ in layers}


def apply_masks(params, masks, layers):
  """`params` with the pruned channels' filters, BatchNorm scale and bias, and the next layer's
  weights on them set to zero."""
  params = dict(flax.core.unfreeze(params))   # a new top level to write into
  for layer, norm, consumer in layers:
    mask = masks[layer]
    params[layer] = dict(params[layer], kernel=params[layer]['kernel'] * mask)
    if norm:
      params[norm] = dict(params[norm], scale=params[norm]['scale'] * mask,
                          bias=params[norm]['bias'] * mask)
    params[consumer] = dict(params[consumer],
                            kernel=params[consumer]['kernel'] * mask[:, None])
  return params


def export_dense(params, batch_stats, masks, layers):
  """(params, batch_stats) of the dense generator: the kept channels only, in their order."""
  params = jax.tree.map(np.asarray, flax.core.unfreeze(params))
  batch_stats = jax.tree.map(np.asarray, flax.core.unfreeze(batch_stats))
  for layer, norm, consumer in layers:
    keep = np.flatnonzero(np.asarray(masks[layer]))
    params[layer] = dict(params[layer], kernel=params[layer]['kernel'][..., keep])
    if norm:
      params[norm] = {k: v[keep] for k, v in params[norm].items()}
      if norm in batch_stats:
        batch_stats[norm] = {k: v[keep] for k, v in batch_stats[norm].items()}
    params[consumer] = dict(params[consumer], kernel=params[consumer]['kernel'][:, :, keep])
  return params, batch_stats


def fine_tuning_players(source_state, g_params, g_tx, d_tx) -> Tuple[Player, Player]:
  """(G, D) to fine-tune a pruned generator: G's masked `g_params` and the source run's batch
  statistics and discriminator, with fresh optimizer states (a new optimisation of a changed
  generator)."""
  d_params = jax.tree.map(jnp.asarray, source_state.d.params)
  g = Player(g_params, jax.tree.map(jnp.asarray, source_state.g.batch_stats), g_tx.init(g_params))
  d = Player(d_params, jax.tree.map(jnp.asarray, source_state.d.batch_stats), d_tx.init(d_params))
  return g, d


def validate_prune_config(config) -> None:
  validate_gan_config(config)
  get(config, FIELD)
  width = int_field(config, 'prune.g_features', 1)
  require(get(config, 'model.generator') == 'dcgan', 'pruning needs model.generator=dcgan')
  require(width < get(config, 'model.g_features'),
          f'prune.g_features={width} must be below model.g_features='
          f'{get(config, "model.g_features")} (the width of the run being pruned)')


@TRAINERS.register('prune')
class PruningTrainer(AdversarialTrainer):

  validate_config = staticmethod(validate_prune_config)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    self.source = load_trained_gan(config.prune.source_workdir, FIELD, data_info)
    require_same_fields(config, self.source.config, 'model', SHAPE_FIELDS,
                        f'the run in {FIELD}', 'pruning starts from that net')
    self.layers = hidden_layers(self.generator)
    self.target_features = int(config.prune.g_features)
    # A DCGAN generator of width f has f * 2^(n-1-i) channels out of hidden layer i.
    ratio = self.target_features / config.model.g_features
    self.widths = {layer: int(round(np.shape(self.source.state.g.params[layer]['kernel'])[-1] * ratio))
                   for layer, _, _ in self.layers}

  def init(self, key, example_batch) -> PrunedGANState:
    del key, example_batch   # everything comes from the run being pruned
    source = self.source.state
    masks = l1_channel_masks(source.g.params, self.layers, self.widths)
    masks = {k: jnp.asarray(v) for k, v in masks.items()}
    g_params = apply_masks(jax.tree.map(jnp.asarray, source.g.params), masks, self.layers)
    g, d = fine_tuning_players(source, g_params, self.g_tx, self.d_tx)
    return PrunedGANState(step=jnp.zeros((), jnp.int32), g=g, d=d, masks=masks)

  def make_step(self, phase: int = 0):
    adversarial_step = super().make_step(phase)

    def step(state: PrunedGANState, batch, key):
      gan, metrics = adversarial_step(GANState(state.step, state.g, state.d), batch, key)
      g = gan.g.replace(params=apply_masks(gan.g.params, state.masks, self.layers))
      return PrunedGANState(step=gan.step, g=g, d=gan.d, masks=state.masks), metrics

    return step

  def dense(self, state: PrunedGANState):
    """(params, batch_stats) of the pruned generator as a dense DCGAN of width
    prune.g_features (host arrays)."""
    return export_dense(state.g.params, state.g.batch_stats, state.masks, self.layers)
