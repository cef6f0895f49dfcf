"""Defaults of the adversarial family (jaxgan/trainers/adversarial.py), on top of
configs/common.py. Every GAN config starts here: `config = gan_common.get_config()`."""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  config.trainer = 'adversarial'
  config.train.d_steps = 1           # discriminator (critic) updates per generator update
  config.train.unroll_steps = 0      # unrolled GAN: G's loss through k differentiable D updates

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.model.latent_dim = 100
  config.model.g_hidden = (256, 512, 1024)   # MLP widths
  config.model.d_hidden = (512, 256)
  config.model.g_features = 64               # conv width (ngf in the PyTorch originals)
  config.model.d_features = 64               # conv width (ndf)
  config.model.g_batch_norm = False
  config.model.d_batch_norm = False
  config.model.leaky_slope = 0.2
  # How the DCGAN discriminator computes its strided convolutions: 'xla' (lax.conv), 'matmul'
  # (patches x matrix, layers.conv_as_matmul) or 'auto': 'matmul' on CPU when a gradient
  # penalty differentiates D twice (WGAN-GP step about 2x faster there), else 'xla'.
  config.model.d_conv = 'auto'
  config.model.g_activation = 'relu'        # MLP generator: 'relu' | 'leaky_relu' (slope leaky_slope)
  # Sample grids and metrics use the generator in training mode (batch statistics), as the
  # PyTorch originals do; 'running' uses the running averages instead.
  config.model.sample_statistics = 'batch'
  # Options any net can carry (jaxgan/architectures/heads.py); the defaults add nothing.
  config.model.conditioning = 'none'         # 'none' | 'concat' | 'projection' (class labels)
  config.model.label_embed_dim = 0           # 0: as many as classes
  config.model.minibatch = 'none'            # 'none' | 'discrimination' | 'stddev' (in D)
  config.model.minibatch_kernels = 100       # Salimans et al.'s B
  config.model.minibatch_kernel_dim = 5      # Salimans et al.'s C
  config.model.minibatch_group = 4           # minibatch stddev group size (0: whole batch)
  config.model.q_hidden = 128                # InfoGAN Q head width
  config.model.maxout_pieces = 5             # 'maxout' discriminator (PacGAN's)
  config.model.pack = 1                      # PacGAN: D judges this many samples at once

  # Adversarial loss on logits (jaxgan/objectives.py).
  config.objective = 'non_saturating'

  # Penalties on the discriminator (jaxgan/regularizers.py) and weight clipping.
  config.regularizer = ml_collections.ConfigDict()
  config.regularizer.name = 'none'   # 'none' | 'gradient_penalty' | 'r1'
  config.regularizer.weight = 10.0   # lambda (WGAN-GP: 10; R1: gamma)
  config.regularizer.clip = 0.0      # WGAN: clip every critic weight to [-clip, clip]; 0 off

  # InfoGAN latent codes: one categorical code and continuous codes uniform in [-1, 1].
  config.info = ml_collections.ConfigDict()
  config.info.categories = 0         # 0: no categorical code
  config.info.continuous = 0         # number of continuous codes
  config.info.categorical_weight = 1.0
  config.info.continuous_weight = 0.1

  config.optim = common.optim_group(g_lr=2e-4, d_lr=2e-4)   # both players
  return config
