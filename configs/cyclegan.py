"""CycleGAN (Zhu et al. 2017) on the offline unpaired digits: domain A plain digits, domain B
other digits thickened (offline_thick_digits; offline_inverted_digits is the other offline
pair), 28x28 padded to 32x32, no crop or flip. The reference's losses and schedule (LSGAN,
cycle weight 10 per direction, identity 0.5 x that, D loss halved, an image pool of 50 per
discriminator, Adam 2e-4 / (0.5, 0.999), constant for the first half, then linear decay to
zero) with CPU-sized nets: ngf = ndf = 16, 6 resnet blocks, a 2-layer PatchGAN, batch 4.

The reference setting on real data, for a user with the dataset prepared
(`tfds build cycle_gan/horse2zebra --file_format=array_record`):
  python launch.py --config=configs/cyclegan.py --workdir=DIR \
    --config.data.name=cycle_gan/horse2zebra --config.data.image_size=286 \
    --config.data.crop_size=256 --config.data.flip=True --config.model.g_features=64 \
    --config.model.d_features=64 --config.model.resnet_blocks=9 --config.model.d_layers=3 \
    --config.train.batch_size=1 --config.train.num_steps=213400
(horse2zebra's 1,067 trainA images: 100 + 100 epochs at batch 1.)
"""
import ml_collections

from configs import image_to_image_common


def get_config() -> ml_collections.ConfigDict:
  config = image_to_image_common.get_config()
  config.trainer = 'cyclegan'
  config.cycle = ml_collections.ConfigDict()
  config.cycle.weight_a = 10.0       # lambda_A: |G_ba(G_ab(a)) - a|
  config.cycle.weight_b = 10.0       # lambda_B: |G_ab(G_ba(b)) - b|
  config.cycle.identity = 0.5        # lambda_identity: identity terms weigh 0.5 x the cycle weight
  config.cycle.pool_size = 50        # fakes each discriminator is shown from its pool (0: none)

  config.data.name = 'offline_thick_digits'
  config.data.image_size = 32
  config.data.resize = 'pad'
  config.data.crop_size = 0
  config.data.flip = False           # a mirrored digit is not the same digit
  config.model.g_features = 16
  config.model.d_features = 16
  config.model.resnet_blocks = 6
  config.model.d_layers = 2
  config.train.batch_size = 4
  config.train.num_steps = 2_000
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 500
  config.train.checkpoint_every_steps = 500
  config.eval.every_steps = 0        # e.g. --config.eval.every_steps=500: class kept, cycle error
  return config
