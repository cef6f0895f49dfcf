"""ProGAN on the offline digits at 32x32 (28x28 zero-padded, as the official code pads MNIST):
4 -> 8 -> 16 -> 32, seven phases (stable_4, fade_8, stable_8, fade_16, stable_16, fade_32,
stable_32) of progan.images_per_phase = 3,200 images each, with the paper's halving of the minibatch at 32x32
(64 below, 32 at 32x32): 50 steps a phase below 32x32, 100 at it, 450 steps in all, widths 32
at every resolution. A CPU budget, not the paper's (600k-800k images a phase): it shows the
growth working (the 32x32 samples are digit-shaped strokes, not yet varied digits); for real
digits give it more images, e.g. --config.progan.images_per_phase=12800
--config.train.num_steps=1800 --config.train.sample_every_steps=200. A preview at every
phase's end (samples/step_<N>.png).
"""
from configs import progan_common


def get_config():
  config = progan_common.get_config()
  config.data.image_size = 32
  config.data.resize = 'pad'
  config.model.latent_dim = 64
  config.model.widths = (32, 32, 32, 32)
  config.train.batch_size = 32           # evaluation's sampling batch; training: batch_sizes
  config.progan.batch_sizes = (64, 64, 64, 32)
  config.progan.images_per_phase = 3_200
  config.train.num_steps = 450           # 5 phases x 50 steps, then 2 x 100 at 32x32
  # The paper's EMA (0.999) averages over ~1,000 steps: longer than this whole schedule, so its
  # samples would still show the new layers' initial weights. --config.progan.ema=0.999 for
  # paper-length schedules.
  config.progan.ema = 0.99
  config.train.log_every_steps = 50
  config.train.sample_every_steps = 50   # the end of every phase (and the middle of the last two)
  config.train.checkpoint_every_steps = 50
  config.eval.every_steps = 0            # e.g. --config.eval.every_steps=450
  return config
