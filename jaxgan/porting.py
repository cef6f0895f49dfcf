"""PyTorch state dicts <-> Flax variables of the matching jaxgan module.

PyTorch is never imported here: a state dict comes in (and goes out) as plain numpy arrays keyed
by the PyTorch names, e.g. `{k: v.numpy() for k, v in net.state_dict().items()}`.

Layers are matched by the order in which they run, not by name: the Flax module is traced once
(`jax.eval_shape` of `init`, nothing computed) to list its parameterised layers in call order,
and the PyTorch state dict lists its modules in registration order, which for the originals
(`nn.Sequential` stacks) is forward order. Each pair is converted by kind, and every shape is
checked, so a mismatch is an error that names both layers rather than a silent mis-port:

  kind            PyTorch                                   Flax (jaxgan layouts)
  linear          weight [out, in], bias                    kernel [in, out], bias
  conv            Conv2d weight [out, in, kh, kw], bias     kernel [kh, kw, in, out], bias
  conv_transpose  ConvTranspose2d weight [in, out, kh, kw]  kernel [kh, kw, in, out] (unflipped)
  batch_norm      weight, bias, running_mean, running_var   params scale, bias; batch_stats mean, var
  embed           Embedding weight [n, d]                   embedding [n, d]

Images are NCHW in PyTorch and NHWC in jaxgan, which convolutions absorb; the one place it
shows in the weights is a Linear that meets a flattened image (the MLP nets' first D layer and
last G layer), whose features are permuted from (C, H, W) to (H, W, C) order by a per-module
adjustment (`LAYOUT_ADJUSTMENTS`; identity for one channel).
"""
import collections
from typing import Any, Callable, Dict, List, Mapping, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.architectures import layers

StateDict = Dict[str, np.ndarray]
Path = Tuple[str, ...]


class PortingError(ValueError):
  """The PyTorch state dict does not fit the Flax module."""


def _kind_of(module: nn.Module) -> str:
  declared = getattr(type(module), 'porting_kind', None)   # a layer saying what it ports as
  if declared:
    return declared
  if isinstance(module, (layers.Linear, nn.Dense)):
    return 'linear'
  if isinstance(module, (layers.Conv, nn.Conv)):
    return 'conv'
  if isinstance(module, (layers.ConvTranspose2x, layers.ProjectNoise)):
    return 'conv_transpose'
  if isinstance(module, (layers.BatchNorm, nn.BatchNorm)):
    return 'batch_norm'
  if isinstance(module, nn.Embed):
    return 'embed'
  return type(module).__name__


def _get(tree: Mapping, path: Path):
  for name in path:
    if not isinstance(tree, Mapping) or name not in tree:
      return None
    tree = tree[name]
  return tree


def _own_arrays(tree, path: Path) -> Dict[str, Any]:
  node = _get(tree, path)
  if not isinstance(node, Mapping):
    return {}
  return {k: v for k, v in node.items() if not isinstance(v, Mapping)}


def flax_layers(module: nn.Module, *example_args, **example_kwargs):
  """[(path, kind, module)] of the layers owning parameters, in call order, and the variable shapes."""
  calls: 'collections.OrderedDict[Path, nn.Module]' = collections.OrderedDict()

  def record(next_fun, args, kwargs, context):
    if context.method_name == '__call__':
      calls.setdefault(tuple(context.module.scope.path), context.module)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *example_args,
                                                **example_kwargs))
  found = []
  for path, sub in calls.items():
    if _own_arrays(shapes.get('params', {}), path) or _own_arrays(shapes.get('batch_stats', {}), path):
      found.append((path, _kind_of(sub), sub))
  return found, shapes


def torch_modules(state_dict: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
  """[(module name, {param name: array})] in the state dict's (registration) order."""
  groups: 'collections.OrderedDict[str, Dict[str, Any]]' = collections.OrderedDict()
  for key, value in state_dict.items():
    prefix, _, leaf = key.rpartition('.')
    groups.setdefault(prefix, {})[leaf] = value
  return list(groups.items())


def _torch_kind_ok(kind: str, tensors: Mapping[str, Any]) -> bool:
  weight = tensors.get('weight')
  if kind == 'batch_norm':
    return 'running_mean' in tensors
  if 'running_mean' in tensors or weight is None:
    return False
  ndim = np.ndim(weight)
  return {'linear': ndim == 2, 'embed': ndim == 2, 'conv': ndim == 4, 'conv_transpose': ndim == 4}[kind]


# torch tensors -> ({param name: array}, {batch_stats name: array}), by kind.
def _from_torch(kind: str, t: Mapping[str, np.ndarray]):
  if kind == 'linear':
    params = {'kernel': t['weight'].T}
  elif kind == 'conv':
    params = {'kernel': t['weight'].transpose(2, 3, 1, 0)}
  elif kind == 'conv_transpose':
    params = {'kernel': t['weight'].transpose(2, 3, 0, 1)}
  elif kind == 'embed':
    return {'embedding': t['weight']}, {}
  elif kind == 'batch_norm':
    params = {}
    if 'weight' in t:
      params = {'scale': t['weight'], 'bias': t['bias']}
    return params, {'mean': t['running_mean'], 'var': t['running_var']}
  else:
    raise AssertionError(kind)
  if 'bias' in t:
    params['bias'] = t['bias']
  return params, {}


def _to_torch(kind: str, params: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray]):
  if kind == 'linear':
    out = {'weight': params['kernel'].T}
  elif kind == 'conv':
    out = {'weight': params['kernel'].transpose(3, 2, 0, 1)}
  elif kind == 'conv_transpose':
    out = {'weight': params['kernel'].transpose(2, 3, 0, 1)}
  elif kind == 'embed':
    return {'weight': params['embedding']}
  elif kind == 'batch_norm':
    out = {'running_mean': stats['mean'], 'running_var': stats['var']}
    if 'scale' in params:
      out.update(weight=params['scale'], bias=params['bias'])
    return out
  else:
    raise AssertionError(kind)
  if 'bias' in params:
    out['bias'] = params['bias']
  return out


# -- image layout: Linear layers that meet a flattened image ---------------------------------
def _image_axis_permutation(vector_axis: int, image_shape, to_hwc: bool
                            ) -> Callable[[np.ndarray], np.ndarray]:
  """Permutes axis `vector_axis` (length H*W*C) from (C, H, W) order to (H, W, C) order
  (`to_hwc`), or back."""
  h, w, c = image_shape
  source, order = ((c, h, w), (1, 2, 0)) if to_hwc else ((h, w, c), (2, 0, 1))

  def permute(a):
    a = np.moveaxis(a, vector_axis, 0)
    a = a.reshape(source + a.shape[1:]).transpose(order + tuple(range(3, a.ndim + 2)))
    return np.moveaxis(a.reshape((h * w * c,) + a.shape[3:]), 0, vector_axis)
  return permute


def _mlp_generator_layout(module, example_args, to_flax: bool):
  """The last Linear of the MLP generator emits an image: PyTorch views it (C, H, W)."""
  perm = _image_axis_permutation(-1, module.image_shape, to_hwc=to_flax)
  return {('out',): {'kernel': perm, 'bias': perm}}


def _mlp_discriminator_layout(module, example_args, to_flax: bool):
  """The first Linear of the MLP discriminator reads the flattened image."""
  image_shape = tuple(example_args[0].shape[1:])
  if len(image_shape) != 3:
    return {}
  perm = _image_axis_permutation(0, image_shape, to_hwc=to_flax)
  first = ('linear_0',) if module.hidden else ('out',)
  return {first: {'kernel': perm}}


def _layout_adjustments():
  from jaxgan.architectures import mlp
  return {mlp.MLPGenerator: _mlp_generator_layout, mlp.MLPDiscriminator: _mlp_discriminator_layout}


def _set(tree: dict, path: Path, leaves: Mapping[str, Any]) -> None:
  for name in path:
    tree = tree.setdefault(name, {})
  tree.update(leaves)


def _pairs(module, state_dict, example_args, example_kwargs):
  found, shapes = flax_layers(module, *example_args, **example_kwargs)
  torch_groups = [(name, t) for name, t in torch_modules(state_dict)
                  if set(t) != {'num_batches_tracked'}]
  unsupported = [(p, k) for p, k, _ in found if k not in
                 ('linear', 'conv', 'conv_transpose', 'batch_norm', 'embed')]
  if unsupported:
    raise PortingError(f'no PyTorch mapping for layer(s) {", ".join("/".join(p) + " (" + k + ")" for p, k in unsupported)}')
  if len(found) != len(torch_groups):
    raise PortingError(
        f'{type(module).__name__} has {len(found)} parameterised layers '
        f'({", ".join("/".join(p) for p, _, _ in found)}) but the state dict has {len(torch_groups)} '
        f'({", ".join(n for n, _ in torch_groups)})')
  for (path, kind, _), (name, tensors) in zip(found, torch_groups):
    if not _torch_kind_ok(kind, tensors):
      raise PortingError(f'layer order differs: Flax {"/".join(path)} is {kind} but PyTorch '
                         f'{name!r} holds {sorted(tensors)}')
  return found, shapes, torch_groups


def torch_to_flax(module: nn.Module, state_dict: Mapping[str, np.ndarray], *example_args,
                  dtype=None, **example_kwargs) -> Dict[str, Any]:
  """Flax variables {'params', 'batch_stats' (if any)} for `module` from a PyTorch state dict.

  `example_args`/`example_kwargs` are what `module.init` takes after the key (only shapes
  matter), e.g. `torch_to_flax(generator, sd, jnp.zeros((1, 100)), train=False)`. Arrays get
  the dtype the Flax module initialises with, or `dtype` when given (float64 for exact tests).
  """
  found, shapes, torch_groups = _pairs(module, state_dict, example_args, example_kwargs)
  adjust = _layout_adjustments().get(type(module))
  fixes = adjust(module, example_args, True) if adjust else {}
  variables: Dict[str, dict] = {'params': {}, 'batch_stats': {}}
  for (path, kind, _), (name, tensors) in zip(found, torch_groups):
    tensors = {k: np.asarray(v) for k, v in tensors.items()}
    params, stats = _from_torch(kind, tensors)
    for leaf, fn in fixes.get(path, {}).items():
      params[leaf] = fn(params[leaf])
    for collection, leaves in (('params', params), ('batch_stats', stats)):
      expected = _own_arrays(shapes.get(collection, {}), path)
      if set(leaves) != set(expected):
        raise PortingError(f'{name!r} -> {"/".join(path)}: {collection} {sorted(leaves)} but the '
                           f'Flax layer has {sorted(expected)}')
      for leaf, value in leaves.items():
        if tuple(value.shape) != tuple(expected[leaf].shape):
          raise PortingError(f'{name}.{leaf} -> {"/".join(path)}/{leaf}: shape {value.shape} after '
                             f'conversion, the Flax layer wants {expected[leaf].shape}')
        leaves[leaf] = np.ascontiguousarray(value, dtype=dtype or expected[leaf].dtype)
      if leaves:
        _set(variables[collection], path, leaves)
  if not variables['batch_stats']:
    del variables['batch_stats']
  return variables


def flax_to_torch(module: nn.Module, variables: Mapping[str, Any],
                  template: Mapping[str, np.ndarray], *example_args, **example_kwargs) -> StateDict:
  """The inverse of `torch_to_flax`: a state dict with the keys of `template` (a state dict of
  the PyTorch module, e.g. freshly built) holding the values of the Flax `variables`. Entries
  Flax has no counterpart for (BatchNorm's num_batches_tracked) are copied from `template`."""
  found, _, torch_groups = _pairs(module, template, example_args, example_kwargs)
  adjust = _layout_adjustments().get(type(module))
  fixes = adjust(module, example_args, False) if adjust else {}
  params_tree = jax.tree.map(np.asarray, dict(variables.get('params', {})))
  stats_tree = jax.tree.map(np.asarray, dict(variables.get('batch_stats', {})))
  converted = {}
  for (path, kind, _), (name, _) in zip(found, torch_groups):
    params = dict(_own_arrays(params_tree, path))
    for leaf, fn in fixes.get(path, {}).items():
      params[leaf] = fn(params[leaf])
    for leaf, value in _to_torch(kind, params, _own_arrays(stats_tree, path)).items():
      converted[f'{name}.{leaf}' if name else leaf] = value
  out = {}
  for key, value in template.items():
    if key in converted:
      if tuple(converted[key].shape) != tuple(np.shape(value)):
        raise PortingError(f'{key}: shape {converted[key].shape} from Flax, PyTorch has {np.shape(value)}')
      out[key] = np.ascontiguousarray(converted[key], dtype=np.asarray(value).dtype)
    else:
      out[key] = np.asarray(value)
  return out


def as_jax(variables):
  """The same tree with jnp arrays (the converters return numpy)."""
  return jax.tree.map(jnp.asarray, variables)


def torch_to_flax_like_params(module: nn.Module, state_dict: Mapping[str, np.ndarray],
                              values: Mapping[str, np.ndarray], *example_args, dtype=None,
                              **example_kwargs) -> Dict[str, Any]:
  """A Flax params tree holding, for each PyTorch parameter name in `values`, that value laid
  out as the parameter is: how per-parameter optimizer state (Adam's exp_avg and exp_avg_sq,
  RMSprop's square_avg) carries over, so a PyTorch run resumes in jaxgan with its moments."""
  merged = dict(state_dict)
  for name, value in values.items():
    if name not in merged:
      raise PortingError(f'{name!r} is not a parameter of the state dict')
    merged[name] = value
  return torch_to_flax(module, merged, *example_args, dtype=dtype, **example_kwargs)['params']
