"""Conditional DCGAN (Mirza & Osindero 2014 on the DCGAN nets): class labels embedded in both
players. The generator sees [z, embed(y)]; the discriminator sees the embedding as extra input
channels ('concat'); `--config.model.conditioning=projection` (or configs/cgan_projection.py)
adds <embed(y), features(x)> to the logit instead (Miyato & Koyama 2018).
Sample grids have one row per class, the same noise down each column.
"""
from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.model.conditioning = 'concat'
  config.model.label_embed_dim = 10
  config.train.grid_size = 80        # 10 rows (classes) x 8 columns
  return config
