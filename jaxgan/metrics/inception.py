"""InceptionV3 for FID on natural images, with weights from a file the user supplies.

The network is the "FID Inception" of TensorFlow's original FID code (2015-12-05 graph), as
ported by pytorch-fid: torchvision's InceptionV3 layout with the FID patches (average pools that
ignore padding, a max pool in the last block, 1008 classes). Features are the 2048-d pool3
activations; logits (the 1008-way fc) feed an Inception Score when the file has `fc.*`.

Weights are never downloaded. The file is an `.npz` whose array names are the PyTorch
state-dict keys of pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` ("Conv2d_1a_3x3.conv.weight",
"Mixed_5b.branch1x1.bn.running_mean", "fc.weight", ...) in PyTorch layout. To make it, on a
machine that has the .pth file and PyTorch:

    python -m jaxgan.metrics.inception convert pt_inception-2015-12-05-6726825d.pth fid_inception.npz

then train with `--config.eval.inception_weights=/path/fid_inception.npz`.

Inputs are images in [-1, 1], NHWC, any size (bilinearly resized to 299x299 like pytorch-fid's
`F.interpolate(..., align_corners=False)`); one channel is repeated to three.
"""
import sys
from typing import Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


class BasicConv(nn.Module):
  """torchvision's BasicConv2d: conv (no bias), BatchNorm (eps 1e-3, running stats), ReLU."""
  features: int
  kernel: Tuple[int, int] = (1, 1)
  stride: int = 1
  padding: Tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel)
    ph, pw = _pair(self.padding)
    x = nn.Conv(self.features, (kh, kw), strides=self.stride, padding=((ph, ph), (pw, pw)),
                use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_same(x):
  # TensorFlow's average pool (and pytorch-fid's patch): padded zeros are not counted.
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, stride=2, pad=0):
  return nn.max_pool(x, (3, 3), (stride, stride), padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, name='branch1x1')(x)
    b5 = BasicConv(48, name='branch5x5_1')(x)
    b5 = BasicConv(64, 5, padding=2, name='branch5x5_2')(b5)
    b3 = BasicConv(64, name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, 3, padding=1, name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, 3, padding=1, name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, 3, stride=2, name='branch3x3')(x)
    bd = BasicConv(64, name='branch3x3dbl_1')(x)
    bd = BasicConv(96, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, 3, stride=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv(192, name='branch1x1')(x)
    b7 = BasicConv(c7, name='branch7x7_1')(x)
    b7 = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv(c7, name='branch7x7dbl_1')(x)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, name='branch3x3_1')(x)
    b3 = BasicConv(320, 3, stride=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, 3, stride=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
  pool: str  # 'avg' in Mixed_7b, 'max' in Mixed_7c (a quirk of the FID graph, kept for parity)

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, name='branch1x1')(x)
    b3 = BasicConv(384, name='branch3x3_1')(x)
    b3 = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], -1)
    bd = BasicConv(448, name='branch3x3dbl_1')(x)
    bd = BasicConv(384, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], -1)
    pooled = _avg_pool_same(x) if self.pool == 'avg' else _max_pool(x, stride=1, pad=1)
    bp = BasicConv(192, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """FID InceptionV3: images in [-1, 1] -> (pool3 features [N, 2048], logits [N, 1008])."""
  resize: bool = True

  @nn.compact
  def __call__(self, x):
    x = x.astype(jnp.float32)
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    if self.resize and x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
      # Bilinear with half-pixel centres and no antialiasing: torch's align_corners=False.
      x = jax.image.resize(x, (x.shape[0], INPUT_SIZE, INPUT_SIZE, 3), 'bilinear',
                           antialias=False)
    x = BasicConv(32, 3, stride=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, 3, name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool(x)
    x = BasicConv(80, 1, name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, 3, name='Conv2d_4a_3x3')(x)
    x = _max_pool(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE('avg', name='Mixed_7b')(x)
    x = InceptionE('max', name='Mixed_7c')(x)
    features = x.mean(axis=(1, 2))
    logits = nn.Dense(NUM_CLASSES, name='fc')(features)
    return features, logits


# --------------------------------------------------------------------------------------------
# Weights: PyTorch state-dict names <-> Flax variables

_PARAM_LEAF = {('conv', 'weight'): ('params', 'kernel'), ('bn', 'weight'): ('params', 'scale'),
               ('bn', 'bias'): ('params', 'bias'), ('bn', 'running_mean'): ('batch_stats', 'mean'),
               ('bn', 'running_var'): ('batch_stats', 'var')}


def _to_flax(name: str, value: np.ndarray):
  """One state-dict entry -> (collection, path tuple, array), or None to skip it."""
  parts = name.split('.')
  if parts[-1] == 'num_batches_tracked':
    return None
  if parts[0] == 'fc':
    leaf = {'weight': 'kernel', 'bias': 'bias'}[parts[1]]
    return 'params', ('fc', leaf), value.T if leaf == 'kernel' else value
  collection, leaf = _PARAM_LEAF[(parts[-2], parts[-1])]
  if leaf == 'kernel':
    value = np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
  return collection, tuple(parts[:-1]) + (leaf,), value


def variables_from_state_dict(state_dict: Dict[str, np.ndarray]) -> dict:
  """Flax variables {'params', 'batch_stats'} from PyTorch-named, PyTorch-layout arrays."""
  flat = {'params': {}, 'batch_stats': {}}
  for name, value in state_dict.items():
    entry = _to_flax(name, np.asarray(value, np.float32))
    if entry is not None:
      collection, path, array = entry
      flat[collection][path] = array
  return {c: traverse_util.unflatten_dict(f) for c, f in flat.items()}


def _transpose(value, axes):
  if isinstance(value, jax.ShapeDtypeStruct):  # expected_shapes() works on shapes alone
    return jax.ShapeDtypeStruct(tuple(value.shape[a] for a in axes), value.dtype)
  return np.transpose(np.asarray(value), axes)


def state_dict_from_variables(variables) -> Dict[str, np.ndarray]:
  """The inverse of `variables_from_state_dict` (used to write test weights)."""
  inverse = {v: k for k, v in _PARAM_LEAF.items()}
  out = {}
  for collection in ('params', 'batch_stats'):
    for path, value in traverse_util.flatten_dict(variables[collection]).items():
      if path[0] == 'fc':
        is_kernel = path[1] == 'kernel'
        out['fc.weight' if is_kernel else 'fc.bias'] = _transpose(value, (1, 0)) if is_kernel else value
        continue
      module, leaf = inverse[(collection, path[-1])]
      if module == 'conv':
        value = _transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW
      out['.'.join(path[:-2] + (module, leaf))] = value
  return out


def expected_shapes() -> Dict[str, tuple]:
  """Variable shapes of the network, in PyTorch names and layouts (no weights needed)."""
  shapes = jax.eval_shape(InceptionV3(resize=False).init, jax.random.PRNGKey(0),
                          jnp.zeros((1, 75, 75, 3)))
  return {k: v.shape for k, v in state_dict_from_variables(shapes).items()}


def load_weights(path: str) -> dict:
  """Flax variables from a converted .npz; raises ValueError naming what does not fit."""
  with np.load(path) as archive:
    state_dict = {k: archive[k] for k in archive.files}
  expected = expected_shapes()
  missing = sorted(set(expected) - set(state_dict) - {'fc.weight', 'fc.bias'})
  if missing:
    raise ValueError(f'{path} lacks {len(missing)} InceptionV3 arrays (first: {missing[0]}); '
                     'convert pytorch-fid\'s pt_inception .pth with '
                     '`python -m jaxgan.metrics.inception convert IN.pth OUT.npz`')
  for name, shape in expected.items():
    if name in state_dict and tuple(state_dict[name].shape) != tuple(shape):
      raise ValueError(f'{path}: {name} has shape {state_dict[name].shape}, expected {shape}')
  return variables_from_state_dict({k: v for k, v in state_dict.items() if k in expected})


def random_weights(seed: int = 0) -> Dict[str, np.ndarray]:
  """A random state dict with the right names and shapes (for offline tests only).

  He-normal kernels and BatchNorm statistics near identity keep activations O(1) through the
  94 layers, so features are not all zero and determinism checks mean something.
  """
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in expected_shapes().items():
    if name.endswith('conv.weight'):
      fan_in = shape[1] * shape[2] * shape[3]
      out[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    elif name == 'fc.weight':
      out[name] = rng.normal(0.0, np.sqrt(1.0 / shape[1]), shape).astype(np.float32)
    elif name.endswith('running_var') or name.endswith('bn.weight'):
      out[name] = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    else:  # bn.bias, bn.running_mean, fc.bias
      out[name] = rng.normal(0.0, 0.1, shape).astype(np.float32)
  return out


class InceptionFeatures:
  """FID Inception with loaded weights: `apply(images)` -> (features, logits), traceable."""

  name = 'inception'
  fd_name = 'fid'

  def __init__(self, variables, resize: bool = True, path: str = ''):
    self.variables = variables
    self.has_logits = 'fc' in variables['params']
    if not self.has_logits:  # Shapes must match the module; IS is skipped without an fc.
      self.variables = {**variables, 'params': {**variables['params'], 'fc': {
          'kernel': np.zeros((FEATURE_DIM, NUM_CLASSES), np.float32),
          'bias': np.zeros((NUM_CLASSES,), np.float32)}}}
    self.net = InceptionV3(resize=resize)
    self.feature_dim = FEATURE_DIM
    self.path = path

  @classmethod
  def from_file(cls, path: str) -> 'InceptionFeatures':
    return cls(load_weights(path), path=path)

  def apply(self, images):
    return self.net.apply(self.variables, images)


# --------------------------------------------------------------------------------------------
# Conversion CLI

def convert(pth_path: str, npz_path: str) -> None:
  """pytorch-fid's pt_inception .pth (a state dict) -> .npz of the same names (needs torch)."""
  try:
    import torch
  except ImportError:
    raise SystemExit('converting a .pth needs PyTorch (pip install torch); run it anywhere, '
                     'then copy the .npz') from None
  state_dict = torch.load(pth_path, map_location='cpu', weights_only=True)
  arrays = {k: v.detach().cpu().numpy() for k, v in state_dict.items()
            if not k.endswith('num_batches_tracked')}
  expected = expected_shapes()
  unknown = sorted(set(arrays) - set(expected))
  if unknown:
    raise SystemExit(f'{pth_path} has arrays the FID InceptionV3 does not (first: {unknown[0]}); '
                     'is it pytorch-fid\'s pt_inception-2015-12-05 file?')
  np.savez(npz_path, **arrays)
  print(f'wrote {len(arrays)} arrays to {npz_path}')


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if len(argv) != 3 or argv[0] != 'convert':
    print('usage: python -m jaxgan.metrics.inception convert pt_inception-2015-12-05-6726825d.pth '
          'fid_inception.npz', file=sys.stderr)
    return 2
  convert(argv[1], argv[2])
  return 0


if __name__ == '__main__':
  sys.exit(main())
