"""int8 post-training quantization of a trained generator, with qwix (Google's JAX
quantization library): trainer 'quantized' samples and evaluates it on the shared loop's
machinery; `jaxgan.compress --method=int8` writes it.

Weights: every kernel of the generator (a parameter named 'kernel' with two or more axes) is
stored as int8 values with one float32 scale per output channel (symmetric, absmax: qwix's
`quantize`); BatchNorm's parameters and statistics stay float32. A weight-only generator
dequantizes its kernels and runs the float net: a quarter of the bytes, the same arithmetic.

Activations (`quantize.activations`, DCGAN generators): the inputs of the transposed
convolutions (ConvTranspose2x, after BatchNorm and ReLU: nearly all the multiply-adds) are
quantized to int8 with one static scale per layer, the largest magnitude seen over
`quantize.calibration_batches` sampling batches, and each such convolution runs int8 x int8
with int32 accumulation (qwix's `conv_general_dilated` on two QArrays). The projection from z
keeps a float input: z is Gaussian noise, and its tails would be clipped.
"""
from typing import Dict

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import qwix

from jaxgan.architectures.layers import ConvTranspose2x, upsample2x_phase_conv

QTYPE = jnp.int8
INT8_MAX = 127.0


def is_quantized_kernel(path, leaf) -> bool:
  return path[-1] == 'kernel' and jnp.ndim(leaf) >= 2


def quantize_params(params) -> dict:
  """Float params -> the same tree with each kernel replaced by {'qvalue': int8, 'scale':
  float32 broadcastable to it (one per output channel)}."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
  out = {}
  for path, leaf in flat.items():
    if is_quantized_kernel(path, leaf):
      q = qwix.quantize(jnp.asarray(leaf, jnp.float32), QTYPE, channelwise_axes=(jnp.ndim(leaf) - 1,))
      out[path + ('qvalue',)] = q.qvalue
      out[path + ('scale',)] = q.scale
    else:
      out[path] = leaf
  return flax.traverse_util.unflatten_dict(out)


def _as_qarray(node) -> qwix.QArray:
  return qwix.QArray(qvalue=node['qvalue'], scale=node['scale'], zero_point=None, qtype=QTYPE)


def dequantize_params(qparams) -> dict:
  """The float params a quantized tree stands for (int8 values times their scales)."""
  def walk(node):
    if isinstance(node, dict):
      if set(node) == {'qvalue', 'scale'}:
        return qwix.dequantize(_as_qarray(node))
      return {k: walk(v) for k, v in node.items()}
    return node
  return walk(flax.core.unfreeze(qparams))


def _int8_upsample(x, kernel_node, act_scale):
  """ConvTranspose2x in int8: x quantized with the static `act_scale`, the 4x4 kernel's int8
  values rearranged into the phase kernel (its per-channel scales repeated for the 4 phases)."""
  scale = kernel_node['scale'].reshape(-1)                       # [cout]
  x_scale = jnp.reshape(act_scale, (1, 1, 1, 1)).astype(jnp.float32)

  def conv(padded_x, phase_values):
    x_q = qwix.QArray(qvalue=jnp.clip(jnp.round(padded_x / x_scale), -INT8_MAX, INT8_MAX
                                      ).astype(QTYPE),
                      scale=x_scale, zero_point=None, qtype=QTYPE)
    w_q = qwix.QArray(qvalue=phase_values, scale=jnp.tile(scale, 4).reshape(1, 1, 1, -1),
                      zero_point=None, qtype=QTYPE)
    return qwix.conv_general_dilated(x_q, w_q, (1, 1), 'VALID',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return upsample2x_phase_conv(x, kernel_node['qvalue'], conv=conv).astype(jnp.float32)


def _transposed_conv_interceptor(on_call):
  """A flax method interceptor calling `on_call(module, x, next_fun)` for every
  ConvTranspose2x.__call__ (the rest of the net runs as it is)."""
  def interceptor(next_fun, args, kwargs, context):
    if isinstance(context.module, ConvTranspose2x) and context.method_name == '__call__':
      return on_call(context.module, args[0], lambda: next_fun(*args, **kwargs))
    return next_fun(*args, **kwargs)
  return interceptor


def apply_quantized(module, qparams, batch_stats, args, *, train: bool,
                    act_scales: Dict[str, jax.Array] = None):
  """The generator `module` on quantized params: int8 weights dequantized, and with
  `act_scales` ({layer name: scale}) those layers' transposed convolutions in int8."""
  from jaxgan.trainers.players import apply_net
  params = dequantize_params(qparams)
  if not act_scales:
    return apply_net(module, params, batch_stats, *args, train=train, update_stats=False)[0]
  flat = flax.core.unfreeze(qparams)

  def int8_call(layer, x, float_call):
    if layer.name not in act_scales or layer.use_bias:
      return float_call()
    return _int8_upsample(x, flat[layer.name]['kernel'], act_scales[layer.name])
  with nn.intercept_methods(_transposed_conv_interceptor(int8_call)):
    return apply_net(module, params, batch_stats, *args, train=train, update_stats=False)[0]


def calibrate_activations(module, qparams, batch_stats, args_batches, *, train: bool):
  """{layer name: the largest |input| of that ConvTranspose2x over the batches} / 127: the
  static int8 scale of each layer's input (weights already int8)."""
  params = dequantize_params(qparams)
  from jaxgan.trainers.players import apply_net

  def absmax(args):
    seen = {}

    def record(layer, x, float_call):
      seen[layer.name] = jnp.max(jnp.abs(x))
      return float_call()
    with nn.intercept_methods(_transposed_conv_interceptor(record)):
      apply_net(module, params, batch_stats, *args, train=train, update_stats=False)
    return seen
  per_batch = [jax.jit(absmax)(args) for args in args_batches]
  return {name: jnp.max(jnp.stack([b[name] for b in per_batch])) / INT8_MAX
          for name in per_batch[0]}
