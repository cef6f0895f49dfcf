"""Channel pruning of a trained pix2pix U-Net generator, fine-tuned on the shared loop: trainer
'prune_pix2pix', configs/prune_pix2pix.py; `python -m jaxgan.compress --method=dense` then cuts
the pruned channels out, a plain pix2pix run of width `prune.g_features`.

As for DCGAN (trainers/pruning.py): the run in `prune.source_workdir` gives the starting
generator and discriminator; each channel group of the U-Net keeps the channels whose filters
have the largest L1 norms (Li et al. 2017), as many as a U-Net of width `prune.g_features` has
there; the kept channels are 0/1 masks in the state, re-applied after every fine-tuning step
(pix2pix's own step).

The U-Net's channel groups (architectures/image_to_image.py, levels 0 .. n-1):
  down_i   the output of level i's down convolution (through down_norm_i where it has one),
           read by down_{i+1} and, as the skip, by up_i (the first channels of its input)
  up_i     the output of level i's up convolution (through up_norm_i), i >= 1, read by
           up_{i-1} after the skip of level i-1 (the last channels of its input)
A pruned channel's filter, bias and norm scale and offset are zero, so it is exactly zero
after the convolution, any of the norms ('batch' in either mode, 'instance', 'none'), the
activations and dropout; the readers' weights on it are zero too. The masked net therefore
computes what the smaller dense net computes.
"""
from typing import Dict, List, Tuple

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.config_checks import get, int_field, require
from jaxgan.trainers import TRAINERS
from jaxgan.trainers.image_to_image import Pix2PixState, Pix2PixTrainer
from jaxgan.trainers.players import Player
from jaxgan.trainers.pruning import fine_tuning_players, largest_l1_mask
from jaxgan.trainers.restored import load_trained_translator, require_same_fields

FIELD = 'prune.source_workdir'
# What fixes the nets' shapes besides the width being pruned: the pruned run shares them.
SHAPE_FIELDS = ('generator', 'unet_downs', 'g_features', 'd_features', 'd_layers', 'norm')


class ChannelGroup:
  """One pruned set of channels: the output of conv `producer` (and its norm `norm`), read by
  each `readers` conv at input offset `offset`."""

  def __init__(self, producer: str, norm: str, readers: List[Tuple[str, int]]):
    self.producer, self.norm, self.readers = producer, norm, readers


def unet_groups(params) -> List[ChannelGroup]:
  """The channel groups of a U-Net generator from its parameters (see the module docstring)."""
  n = len([name for name in params if name.startswith('down_') and 'norm' not in name])
  width = lambda name: np.shape(params[name]['kernel'])[-1]  # noqa: E731
  groups = []
  for i in range(n):
    readers = [(f'up_{i}', 0)] + ([(f'down_{i + 1}', 0)] if i < n - 1 else [])
    groups.append(ChannelGroup(f'down_{i}', f'down_norm_{i}' if 0 < i < n - 1 else '', readers))
  for i in range(1, n):
    groups.append(ChannelGroup(f'up_{i}', f'up_norm_{i}', [(f'up_{i - 1}', width(f'down_{i - 1}'))]))
  return groups


def _norm_params(params, norm):
  """The scale/bias dict of a Norm module's parameters, or None ('instance' and 'none' have
  none)."""
  return params.get(norm, {}).get('batch_norm') if norm else None


def l1_channel_masks(params, groups, ratio: float) -> Dict[str, np.ndarray]:
  """{producer: 0/1 per output channel}: round(channels x ratio) channels of largest filter L1
  norm per group (pruning.largest_l1_mask)."""
  masks = {}
  for group in groups:
    kernel = params[group.producer]['kernel']
    masks[group.producer] = largest_l1_mask(kernel, int(round(np.shape(kernel)[-1] * ratio)))
  return masks


def reader_masks(params, groups, masks) -> Dict[str, jax.Array]:
  """{reader conv: 0/1 per input channel}, from the masks of the groups it reads."""
  out = {}
  for group in groups:
    for reader, offset in group.readers:
      current = out.get(reader, jnp.ones(np.shape(params[reader]['kernel'])[2], jnp.float32))
      mask = masks[group.producer]
      out[reader] = current.at[offset:offset + mask.shape[0]].set(mask)
  return out


def apply_masks(params, groups, masks):
  """`params` with every pruned channel's filter, bias and norm parameters and its readers'
  weights on it set to zero."""
  params = {k: dict(v) for k, v in flax.core.unfreeze(params).items()}
  for group in groups:
    mask = masks[group.producer]
    conv = params[group.producer]
    params[group.producer] = {k: v * mask for k, v in conv.items()}   # kernel [.., out], bias
    norm = _norm_params(params, group.norm)
    if norm is not None:
      params[group.norm] = dict(params[group.norm],
                                batch_norm={k: v * mask for k, v in norm.items()})
  for reader, mask in reader_masks(params, groups, masks).items():
    params[reader] = dict(params[reader], kernel=params[reader]['kernel'] * mask[:, None])
  return params


def export_dense(params, batch_stats, groups, masks):
  """(params, batch_stats) of the dense U-Net: the kept channels only, in their order."""
  params = jax.tree.map(np.asarray, flax.core.unfreeze(params))
  batch_stats = jax.tree.map(np.asarray, flax.core.unfreeze(batch_stats))
  inputs = {reader: np.flatnonzero(np.asarray(mask))
            for reader, mask in reader_masks(params, groups, masks).items()}
  for group in groups:
    keep = np.flatnonzero(np.asarray(masks[group.producer]))
    params[group.producer] = {k: v[..., keep] for k, v in params[group.producer].items()}
    if _norm_params(params, group.norm) is not None:
      params[group.norm] = {'batch_norm': {k: v[keep] for k, v in
                                           params[group.norm]['batch_norm'].items()}}
      if group.norm in batch_stats:
        batch_stats[group.norm] = {'batch_norm': {k: v[keep] for k, v in
                                                  batch_stats[group.norm]['batch_norm'].items()}}
  for reader, keep in inputs.items():
    params[reader] = dict(params[reader], kernel=params[reader]['kernel'][:, :, keep])
  return params, batch_stats


def validate_prune_pix2pix_config(config) -> None:
  Pix2PixTrainer.validate_config(config)
  get(config, FIELD)
  width = int_field(config, 'prune.g_features', 1)
  require(get(config, 'model.generator') == 'unet',
          'prune_pix2pix prunes a U-Net generator: set model.generator=unet')
  require(width < get(config, 'model.g_features'),
          f'prune.g_features={width} must be below model.g_features='
          f'{get(config, "model.g_features")} (the width of the run being pruned)')
  require('quantize' not in config,
          'a prune_pix2pix run is not quantized itself: export it with python -m jaxgan.compress '
          '--method=dense, then compress that run with --method=int8_weights')


@flax.struct.dataclass
class PrunedPix2PixState:
  step: jax.Array
  g: Player
  d: Player
  masks: Dict[str, jax.Array]   # {producer conv: [output channels] 0/1}


@TRAINERS.register('prune_pix2pix')
class Pix2PixPruningTrainer(Pix2PixTrainer):

  validate_config = staticmethod(validate_prune_pix2pix_config)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    self.source = load_trained_translator(config.prune.source_workdir, FIELD, data_info,
                                          self.check_source)
    self.groups = unet_groups(self.source.state.g.params)
    self.ratio = int(config.prune.g_features) / int(config.model.g_features)

  def check_source(self, source_config) -> None:
    require_same_fields(self.config, source_config, 'model', SHAPE_FIELDS,
                        f'the run in {FIELD}', 'pruning starts from that net')

  def init_float(self, key, example_batch) -> PrunedPix2PixState:
    del key, example_batch   # everything comes from the run being pruned
    source = self.source.state
    masks = {k: jnp.asarray(v) for k, v in
             l1_channel_masks(source.g.params, self.groups, self.ratio).items()}
    g_params = apply_masks(jax.tree.map(jnp.asarray, source.g.params), self.groups, masks)
    g, d = fine_tuning_players(source, g_params, self.g_tx, self.d_tx)
    return PrunedPix2PixState(step=jnp.zeros((), jnp.int32), g=g, d=d, masks=masks)

  def make_float_step(self, phase: int = 0):
    pix2pix_step = super().make_float_step(phase)

    def step(state: PrunedPix2PixState, batch, key):
      new, metrics = pix2pix_step(Pix2PixState(state.step, state.g, state.d), batch, key)
      g = new.g.replace(params=apply_masks(new.g.params, self.groups, state.masks))
      return PrunedPix2PixState(new.step, g, new.d, state.masks), metrics

    return step

  def dense(self, state: PrunedPix2PixState):
    """(params, batch_stats) of the pruned generator as a dense U-Net of width
    prune.g_features (host arrays)."""
    return export_dense(state.g.params, state.g.batch_stats, self.groups, state.masks)
