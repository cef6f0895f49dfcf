"""pix2pix (Isola et al. 2017) on offline_edges2textures: Canny edges -> 64x64 crops of
scikit-image's photographs and textures, resized to 32x32. The reference's model (U-Net with
batch norm, PatchGAN conditioned on the input, vanilla GAN loss + L1 weight 100, no pool,
Adam 2e-4 / (0.5, 0.999), constant then linear decay) with CPU-sized nets: a 5-level U-Net
(32x32 down to 1x1; its dropout blocks exist from 6 levels up), ngf = ndf = 16, a 2-layer
PatchGAN, batch 4, random flips, no crop, 8,000 steps.

The reference setting (unet_256, 70x70 PatchGAN, batch 1, load 286, crop 256) on a folder of
side-by-side A|B pairs (FOLDER/train, FOLDER/test), e.g. pix2pix's facades:
  python launch.py --config=configs/pix2pix.py --workdir=DIR --config.data.folder=FOLDER \
    --config.data.image_size=286 --config.data.crop_size=256 --config.model.unet_downs=8 \
    --config.model.g_features=64 --config.model.d_features=64 --config.model.d_layers=3 \
    --config.model.dropout=0.5 --config.train.batch_size=1
"""
import ml_collections

from configs import image_to_image_common


def get_config() -> ml_collections.ConfigDict:
  config = image_to_image_common.get_config()
  config.trainer = 'pix2pix'
  config.pix2pix = ml_collections.ConfigDict()
  config.pix2pix.l1_weight = 100.0   # lambda_L1

  config.objective = 'non_saturating'   # the reference's gan_mode vanilla
  config.model.generator = 'unet'
  config.model.norm = 'batch'
  config.model.dropout = 0.5
  config.data.name = 'offline_edges2textures'
  config.data.image_size = 32
  config.data.crop_size = 0
  config.data.flip = True
  config.data.label_key = ''
  config.model.unet_downs = 5
  config.model.g_features = 16
  config.model.d_features = 16
  config.model.d_layers = 2
  config.train.batch_size = 4
  config.train.num_steps = 8_000
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 2_000
  config.train.checkpoint_every_steps = 2_000
  config.eval.every_steps = 0        # e.g. --config.eval.every_steps=2000: L1, PSNR, SSIM
  return config
