"""DCGAN distilled into a slimmer student (GAN Compression, Li et al. 2020): trainer 'distill'
(jaxgan/trainers/distillation.py).

Train the teacher first, then distil it:
  python launch.py --config=configs/dcgan.py --workdir=runs/teacher
  python launch.py --config=configs/distill_dcgan.py --workdir=runs/student \
      --config.distill.teacher_workdir=runs/teacher --config.model.g_features=16
The student reads the teacher's latents; its width is model.g_features (the teacher's: 64).
The rest of the model group must be the teacher run's (the discriminator starts from its).
"""
import ml_collections

from configs import dcgan


def get_config():
  config = dcgan.get_config()
  config.trainer = 'distill'
  config.model.g_features = 16       # the student's width (ngf); the teacher's comes from its run
  config.distill = ml_collections.ConfigDict()
  config.distill.teacher_workdir = ''    # the workdir of a trained configs/dcgan.py run
  config.distill.gan_weight = 1.0
  config.distill.reconstruction_weight = 10.0   # L1 to the teacher's image (GAN Compression: 10)
  config.distill.feature_weight = 0.01          # MSE of 1x1-mapped hidden activations (0.01)
  # GAN Compression starts D from the teacher's. On the digits that D rejected every early
  # student image with near certainty (d_fake about 1e-4) and the students stayed grey through
  # 600 steps (benchmarks/compression.py, FD-digits 582 and 719), so D starts fresh here.
  config.distill.init_discriminator = False
  return config
