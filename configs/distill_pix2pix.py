"""pix2pix distilled into a slimmer student (GAN Compression, Li et al. 2020, its recipe for
paired data): trainer 'distill_pix2pix' (jaxgan/trainers/translation_distillation.py).

Train the teacher first, then distil it, then export the student alone as a pix2pix run:
  python launch.py --config=configs/pix2pix.py --workdir=runs/teacher
  python launch.py --config=configs/distill_pix2pix.py --workdir=runs/student \
      --config.distill.teacher_workdir=runs/teacher --config.model.g_features=8
  python -m jaxgan.compress --workdir=runs/student --out=runs/student_dense --method=dense
The student's width is model.g_features (configs/pix2pix.py's teacher: 16); its data and
the rest of its generator (model.generator, unet_downs, resnet_blocks, norm) must be the
teacher run's, and its discriminator too where it starts from the teacher's.
"""
import ml_collections

from configs import pix2pix


def get_config() -> ml_collections.ConfigDict:
  config = pix2pix.get_config()
  config.trainer = 'distill_pix2pix'
  config.model.g_features = 8          # the student's width (ngf); half the teacher's
  config.distill = ml_collections.ConfigDict()
  config.distill.teacher_workdir = ''  # the workdir of a trained configs/pix2pix.py run
  # GAN Compression's pix2pix distillers: lambda_gan 1, lambda_recon 100, lambda_distill 1, D
  # restored from the teacher run. They take the ground truth as the L1 target on paired data;
  # here the teacher's translation is the target: on offline_edges2textures at ngf 4 it gave
  # the better student on L1, PSNR and SSIM alike (benchmarks/results/compression.md, the
  # ablation rows: PSNR 14.72 against 14.31, SSIM 0.346 against 0.322).
  config.distill.gan_weight = 1.0
  config.distill.reconstruction_weight = 100.0
  config.distill.reconstruction_target = 'teacher'   # or 'ground_truth': the pair's b
  config.distill.feature_weight = 1.0
  config.distill.init_discriminator = True   # False: a fresh one (there: SSIM 0.336, PSNR 14.53)
  del config.pix2pix                   # its L1 weight is distill.reconstruction_weight here
  return config
