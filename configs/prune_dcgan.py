"""A trained DCGAN generator channel-pruned to a smaller width and fine-tuned: trainer 'prune'
(jaxgan/trainers/pruning.py).

  python launch.py --config=configs/dcgan.py --workdir=runs/teacher
  python launch.py --config=configs/prune_dcgan.py --workdir=runs/pruned \
      --config.prune.source_workdir=runs/teacher --config.prune.g_features=32
  python -m jaxgan.compress --workdir=runs/pruned --out=runs/pruned_dense   # the smaller net
Each hidden layer keeps its channels of largest filter L1 norm, as many as a DCGAN of width
prune.g_features has (32 of 64: half the channels, about a quarter of the MACs). The model
group must be the pruned run's.
"""
import ml_collections

from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.trainer = 'prune'
  config.prune = ml_collections.ConfigDict()
  config.prune.source_workdir = ''   # the workdir of a trained configs/dcgan.py run
  config.prune.g_features = 32       # the width the generator is pruned to (model.g_features: 64)
  config.train.num_steps = 500       # fine-tuning steps
  config.train.sample_every_steps = 250
  config.train.checkpoint_every_steps = 250
  return config
