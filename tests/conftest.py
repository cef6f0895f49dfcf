"""Shared fixtures: a per-session TFDS data dir with the offline digits, and tiny configs."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
  """A TFDS data dir holding offline_mnist, prepared once per test session (worker)."""
  path = str(tmp_path_factory.mktemp('tensorflow_datasets'))
  from jaxgan.data.offline_mnist import OfflineMnist
  OfflineMnist(data_dir=path, file_format='array_record').download_and_prepare()
  return path


def tiny_dcgan(data_dir, **train):
  """configs/dcgan.py shrunk to run in seconds on CPU."""
  from configs import dcgan
  config = dcgan.get_config()
  config.data.data_dir = data_dir
  config.model.g_features = 8
  config.model.d_features = 8
  config.train.batch_size = 16
  config.train.num_steps = 6
  config.train.log_every_steps = 2
  config.train.sample_every_steps = 3
  config.train.checkpoint_every_steps = 3
  config.train.grid_size = 16
  config.train.progress_bar = 'no'
  for key, value in train.items():
    config.train[key] = value
  return config


def config_overrides(config, prefix=''):
  """Flattens a ConfigDict into --config.a.b=value arguments for launch.py."""
  args = []
  for key, value in config.items():
    name = f'{prefix}{key}'
    if hasattr(value, 'items'):
      args += config_overrides(value, name + '.')
    else:
      args.append(f'--config.{name}={value!r}' if isinstance(value, str) else f'--config.{name}={value}')
  return args


def launch(args, env_extra=None, **kwargs):
  """Runs launch.py in a subprocess on CPU; returns the CompletedProcess."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONUNBUFFERED='1')
  env.update(env_extra or {})
  return subprocess.run([sys.executable, os.path.join(ROOT, 'launch.py')] + args, cwd=ROOT,
                        env=env, capture_output=True, text=True, **kwargs)


def read_checkpoint(directory, step):
  """The arrays of one Orbax checkpoint as a flat {path: numpy array} dict."""
  import jax
  import numpy as np
  import orbax.checkpoint as ocp
  # Restore onto this process's first device whatever topology wrote the checkpoint (the
  # 8-device runs write 8-device shardings into their metadata).
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  with ocp.CheckpointManager(
      directory, item_handlers={'default': ocp.StandardCheckpointHandler()}) as manager:
    metadata = manager.item_metadata(step)['default']
    abstract = jax.tree_util.tree_map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
        getattr(metadata, 'tree', metadata))
    tree = manager.restore(step, args=ocp.args.Composite(
        default=ocp.args.StandardRestore(abstract)))['default']
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def assert_resume_is_exact(config, root, first_steps: int) -> dict:
  """Trains `config` to train.num_steps in root/whole, and in root/split to `first_steps`, then
  on from that checkpoint; asserts both final checkpoints are equal, array for array, and
  returns the whole run's ({path: array})."""
  import os

  import numpy as np

  from jaxgan import train
  whole, split = os.path.join(str(root), 'whole'), os.path.join(str(root), 'split')
  train.run(config, whole)
  first = config.copy_and_resolve_references()
  first.train.num_steps = first_steps
  train.run(first, split)
  train.run(config, split)
  step = config.train.num_steps
  a = read_checkpoint(os.path.join(whole, 'checkpoints'), step)
  b = read_checkpoint(os.path.join(split, 'checkpoints'), step)
  assert a.keys() == b.keys()
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  return a
