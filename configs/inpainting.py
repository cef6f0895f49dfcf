"""DeepFill v2 inpainting (Yu et al. 2019; jaxgan/trainers/inpainting.py) on
offline_picture_crops: 64x64 crops of the photographs and textures scikit-image and
scikit-learn ship, held out by source picture. The reference's model and losses (a two-stage
gated generator with contextual attention, the SN-PatchGAN with the mask as a fourth channel,
hinge loss on every output element, L1 on both stages with weight 1, free-form masks: a box
OR-ed with brush strokes; Adam with betas (0.5, 0.999)) with CPU-sized nets, and two choices for
a CPU budget: a variance-keeping kernel initialisation (`model.init=gated`) and learning rates
of 1e-3. Measured here (held-out hole PSNR, free-form masks): the reference's initialisation
and 1e-4 gave 17.3 dB after 500 steps and 15.5 dB after 1,000; 'gated' and 1e-3 gave 17.0 dB
after 400 steps and 19.4 dB after 800 (mean-colour fill: 20.5 dB). The reference's TensorFlow
initialisation starts the generator's output near 1e-7 (architectures/inpainting.py).

The reference setting (cnum 48, the 64-channel SN-PatchGAN, batch 16, 256x256) on a TFDS
image dataset, e.g. Places365 (`tfds build places365_small --file_format=array_record`):
  python launch.py --config=configs/inpainting.py --workdir=DIR \
    --config.data.name=places365_small --config.data.image_size=256 \
    --config.model.channels=48 --config.model.d_features=64 --config.train.batch_size=16 \
    --config.model.init=reference --config.optim.g_lr=1e-4 --config.optim.d_lr=1e-4
or CelebA (`--config.data.name=celeb_a`, centre-cropped and resized to data.image_size).
`--config.model.contextual_attention=False` trains the plain gated v2 net; `--config.data.mask=box`
trains on box holes only (DeepFill v1's setting).

configs/inpainting_prefilled.py is the recipe that beats scikit-image's biharmonic inpainting
and its own biharmonic start in the hole (README).
"""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  config.trainer = 'inpainting'

  config.data.source = 'images'
  config.data.name = 'offline_picture_crops'
  config.data.label_key = ''
  config.data.image_size = 0         # 0 keeps the crops' 64x64; sides must be multiples of 8
  # Holes, one per image, drawn inside the compiled step (jaxgan/data/masks.py): 'free_form'
  # (the reference's box OR-ed with 1-3 brush strokes, scaled to the image size) | 'box'.
  config.data.mask = 'free_form'

  config.model = ml_collections.ConfigDict()
  config.model.channels = 16         # the generator's cnum (48 in the reference)
  config.model.contextual_attention = True
  # The generator's kernels: 'reference' (TensorFlow's Glorot-uniform default) | 'gated'
  # (Glorot's variance x 7.5, so the deep gated stack keeps its signal at initialisation).
  config.model.init = 'gated'
  # 'none' (the reference) | 'push_pull' | 'biharmonic': the holes start as a smooth fill
  # (push-pull, or a biharmonic solve in the compiled step) and both stages learn a correction
  # to it (architectures/inpainting.py, DeepFillV2Generator).
  config.model.prefill = 'none'
  # With a prefill: the nets work in units of each image's known-pixel contrast, and their
  # correction is scaled back by it (architectures/inpainting.py, DeepFillV2Generator).
  config.model.contrast_normalise = False
  config.model.d_features = 32       # the SN-PatchGAN's first width (64 in the reference)
  config.model.d_layers = 6          # 5x5 stride-2 spectral-normalised convolutions

  config.inpainting = ml_collections.ConfigDict()
  config.inpainting.l1_weight = 1.0  # the reference's l1_loss_alpha, on both stages
  config.inpainting.gan_weight = 1.0 # gan_loss_alpha
  config.inpainting.hole_l1_weight = 0.0   # L1 over the hole alone, both stages (reference: 0)
  config.inpainting.hole_psnr_weight = 0.0 # -PSNR (dB) in each hole, both stages (reference: 0)
  # Added to each hole's mean squared error (intensities in [0, 1]) inside the PSNR loss: holes
  # filled better than 10 log10(1 / floor) dB weigh as a squared error. With no floor the loss's
  # gradient grows as 1 / MSE, and Adam raised the loss even on one fixed batch (measured).
  config.inpainting.hole_psnr_floor = 1e-4   # 40 dB
  config.inpainting.augment = False  # per-image flips, transpose, channel order (reference: no)

  config.optim = common.optim_group(g_lr=1e-3, d_lr=1e-3)   # the reference: 1e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999

  config.train.batch_size = 16
  config.train.num_steps = 10_000
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 1_000
  config.train.checkpoint_every_steps = 1_000
  config.train.grid_size = 8         # preview rows: input | coarse | output | original

  # Held-out crops with masks drawn from eval.mask_seed (the same holes at every evaluation):
  # L1, L2, PSNR and SSIM over the image and inside the hole, total variation, next to the
  # mean-colour fill and scikit-image's biharmonic inpainting (jaxgan/metrics/inpainting.py).
  config.eval.metrics = ('inpainting',)
  config.eval.mask_seed = 0
  config.eval.max_real_samples = 400
  return config
