"""Defaults of image-to-image translation (jaxgan/trainers/image_to_image.py: CycleGAN and
pix2pix), on top of configs/common.py, at the reference's settings
(junyanz/pytorch-CycleGAN-and-pix2pix): 256x256 crops of images loaded at 286, flips, batch 1,
ngf = ndf = 64, the 70x70 PatchGAN (3 layers), init N(0, 0.02), Adam 2e-4 with betas
(0.5, 0.999), constant for the first half of train.num_steps, then linearly decaying to zero
(the reference's 100 epochs constant and 100 decaying; optim.schedule=linear_decay with
optim.decay_start_step sets another split).
configs/cyclegan.py and configs/pix2pix.py add their family's fields and CPU-sized runs.
"""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  # Two domains of images (jaxgan/data/translation.py): a TFDS dataset by data.name
  # (cycle_gan/horse2zebra and the other cycle_gan configs, or the offline ones:
  # offline_inverted_digits, offline_thick_digits, offline_edges2textures), or a folder.
  config.data.source = 'image_to_image'
  config.data.folder = ''            # FOLDER/trainA, trainB, testA, testB (unpaired) or
                                     #   FOLDER/train, test of side-by-side A|B pairs; '' reads TFDS
  config.data.image_size = 286       # load size: every image is resized to it (0: as stored)
  config.data.crop_size = 256        # random crop in training, centre crop held out (0: none)
  config.data.flip = True            # random left-right flips in training
  config.data.label_key = 'label'    # per-image labels, where the dataset has them (digits)

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'resnet'  # 'resnet' | 'unet'
  config.model.g_features = 64       # ngf
  config.model.d_features = 64       # ndf
  config.model.resnet_blocks = 9     # resnet_9blocks (256x256); resnet_6blocks for 128x128
  config.model.unet_downs = 8        # unet_256; 7: unet_128; 5: 32x32 images
  config.model.d_layers = 3          # PatchGAN depth: 3 is the 70x70 PatchGAN
  config.model.norm = 'instance'     # 'instance' | 'batch' | 'none'
  config.model.dropout = 0.0         # in the resnet blocks / the inner unet blocks (pix2pix: 0.5)
  # Translation (previews, evaluators, jaxgan.translate) uses BatchNorm's running averages and
  # no dropout ('running', the reference's --eval) or batch statistics ('batch').
  config.model.sample_statistics = 'running'

  config.objective = 'least_squares' # 'least_squares' (LSGAN) | 'non_saturating' (vanilla)
  config.optim = common.optim_group(g_lr=2e-4, d_lr=2e-4)
  config.optim.b1 = 0.5
  config.optim.schedule = 'linear_decay_second_half'

  config.train.num_steps = 10_000
  config.train.batch_size = 1
  config.train.grid_size = 8         # preview rows (each: input | translation | cycle or target)
  config.eval.metrics = ('translation',)
  config.eval.max_real_samples = 500 # held-out images per domain the evaluators use
  return config
