"""A trained pix2pix U-Net generator channel-pruned to a smaller width and fine-tuned: trainer
'prune_pix2pix' (jaxgan/trainers/translation_pruning.py).

  python launch.py --config=configs/pix2pix.py --workdir=runs/pix2pix
  python launch.py --config=configs/prune_pix2pix.py --workdir=runs/pruned \
      --config.prune.source_workdir=runs/pix2pix --config.prune.g_features=8
  python -m jaxgan.compress --workdir=runs/pruned --out=runs/pruned_dense --method=dense
Each channel group of the U-Net (every level's down and up outputs) keeps its channels of
largest filter L1 norm, as many as a U-Net of width prune.g_features has (8 of 16: half the
channels, about a quarter of the MACs). The model group must be the pruned run's.
"""
import ml_collections

from configs import pix2pix


def get_config() -> ml_collections.ConfigDict:
  config = pix2pix.get_config()
  config.trainer = 'prune_pix2pix'
  config.prune = ml_collections.ConfigDict()
  config.prune.source_workdir = ''   # the workdir of a trained configs/pix2pix.py run
  config.prune.g_features = 8        # the width the generator is pruned to (model.g_features: 16)
  config.train.num_steps = 2_000     # fine-tuning steps (the schedule: constant, then decaying)
  config.train.sample_every_steps = 1_000
  config.train.checkpoint_every_steps = 1_000
  return config
