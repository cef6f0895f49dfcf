"""ProGAN on the offline digits at 32x32 (28x28 resized): 4 -> 8 -> 16 -> 32, seven phases
(stable_4, fade_8, stable_8, fade_16, stable_16, fade_32, stable_32) of
progan.images_per_phase / train.batch_size = 3,200 / 32 = 100 steps each, 700 steps in all,
widths 32 at every resolution. A CPU budget, not the paper's (600k-800k images a phase):
measured 3.4 minutes on 2 shared CPU cores with the compilation cache warm (5.6 cold, next to
another job); most of it in the two 32x32 phases (about 2 steps/s). It only shows the growth
working (the 32x32 samples are digit-shaped strokes, not yet varied digits): for real digits
give it more images: --config.progan.images_per_phase=12800 --config.train.num_steps=2800
--config.train.sample_every_steps=400 took 6.1 minutes and ends with recognisable 0, 1, 8, 9
shapes (still blotchy, and not yet every class). A preview at every phase's end (samples/step_<N>.png).
"""
from configs import progan_common


def get_config():
  config = progan_common.get_config()
  config.data.image_size = 32
  config.model.latent_dim = 64
  config.model.widths = (32, 32, 32, 32)
  config.train.batch_size = 32
  config.progan.images_per_phase = 3_200
  config.train.num_steps = 700           # 7 phases x 100 steps
  # The paper's EMA (0.999) averages over ~1,000 steps: longer than this whole schedule, so its
  # samples would still show the new layers' initial weights. --config.progan.ema=0.999 for
  # paper-length schedules.
  config.progan.ema = 0.99
  config.train.log_every_steps = 50
  config.train.sample_every_steps = 100  # the end of every phase
  config.train.checkpoint_every_steps = 100
  config.eval.every_steps = 0            # e.g. --config.eval.every_steps=700
  return config
