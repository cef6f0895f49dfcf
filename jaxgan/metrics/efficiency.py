"""The 'efficiency' evaluator: what a generator costs to keep and to run.

Built from the trainer's functions 'sample' (state, key, n) -> images and 'generator_variables'
(state -> the generator's variables as they are stored: float, or int8 with scales once
quantized), it reports
  params                 scalars in the generator's parameters (BatchNorm statistics excluded;
                         a quantized weight counts its int8 values and its scales)
  generator_bytes        bytes of those variables serialized (flax msgpack), statistics included:
                         what the generator takes on disk
  flops_per_image        XLA's cost analysis of the compiled sampling program at batch
                         `FLOPS_BATCH`, divided by it
  macs_per_image         flops_per_image / 2: XLA counts a multiply-add as 2 flops and every
                         elementwise op (BatchNorm, ReLU, tanh, the noise draw) as 1, which
                         adds about 1% to a DCGAN generator's convolutions. XLA counts only the
                         kernel taps that meet the image, so a transposed convolution costs its
                         true multiply-adds however it is computed (jaxgan/architectures/layers.py)
  latency_ms_b<B>        wall-clock milliseconds per image of the compiled sampling program at
                         batch B (1 and 64), on this process's devices: the median of
                         `LATENCY_REPEATS` calls after a warm-up, divided by B
The figures do not depend on the step; latency does depend on the machine and its load.
"""
import time
from typing import Dict

import flax
import jax
import numpy as np

from jaxgan.errors import ConfigError
from jaxgan.metrics import EVALUATORS

_EFFICIENCY_STREAM = 0xEFF1
FLOPS_BATCH = 64
LATENCY_BATCH_SIZES = (1, 64)
LATENCY_REPEATS = 20


def count_params(variables) -> int:
  """Scalars in `variables['params']` (or in the whole tree when it has no 'params')."""
  params = variables.get('params', variables) if isinstance(variables, dict) else variables
  return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


def serialized_bytes(variables) -> int:
  """Bytes of `variables` as flax msgpack (the arrays in their own dtypes, plus framing)."""
  host = jax.tree.map(np.asarray, variables)
  return len(flax.serialization.msgpack_serialize(flax.serialization.to_state_dict(host)))


def compiled_flops(fn, *args) -> float:
  """Flops XLA's cost analysis gives `fn` compiled for `args`."""
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):   # older jax: one dict per program
    analysis = analysis[0]
  return float(analysis['flops'])


def median_call_seconds(call, repeats: int = LATENCY_REPEATS) -> float:
  """Median wall-clock seconds of `call(i)` (a compiled function's call, i = 0..repeats-1),
  after one warm-up call that compiles it."""
  jax.block_until_ready(call(0))
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(call(i))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def sampling_flops(sample, state, batch: int) -> float:
  """Flops XLA's cost analysis gives the compiled `sample(state, key, batch)`."""
  return compiled_flops(lambda state, key: sample(state, key, batch), state,
                        jax.random.PRNGKey(0))


def latency_seconds(sample, state, batch: int, repeats: int = LATENCY_REPEATS) -> float:
  """Median wall-clock seconds of one compiled `sample(state, key, batch)` call."""
  fn = jax.jit(lambda state, key: sample(state, key, batch))
  key = jax.random.PRNGKey(_EFFICIENCY_STREAM)
  return median_call_seconds(lambda i: fn(state, jax.random.fold_in(key, i)), repeats)


@EVALUATORS.register('efficiency')
class Efficiency:

  @staticmethod
  def validate_config(config) -> None:
    del config

  def __init__(self, config, source, functions, mesh, latency_repeats: int = LATENCY_REPEATS,
               latency_batch_sizes=LATENCY_BATCH_SIZES):
    del source, mesh
    self.latency_repeats = latency_repeats
    self.latency_batch_sizes = tuple(latency_batch_sizes)
    missing = [f for f in ('sample', 'generator_variables') if f not in functions]
    if missing:
      raise ConfigError(f'eval.metrics names efficiency, and trainer {config.trainer!r} has no '
                        f'{" or ".join(missing)} function (only generators do)')
    self.sample = functions['sample']
    self.generator_variables = functions['generator_variables']

  def __call__(self, state, step=None) -> Dict[str, float]:
    del step
    variables = self.generator_variables(state)
    flops = sampling_flops(self.sample, state, FLOPS_BATCH) / FLOPS_BATCH
    results = {'params': float(count_params(variables)),
               'generator_bytes': float(serialized_bytes(variables)),
               'flops_per_image': flops, 'macs_per_image': flops / 2}
    for batch in self.latency_batch_sizes:
      results[f'latency_ms_b{batch}'] = 1e3 * latency_seconds(self.sample, state, batch,
                                                                self.latency_repeats) / batch
    return results

  def describe(self) -> Dict[str, object]:
    return {'efficiency_backend': jax.default_backend(),
            'efficiency_latency_batches': list(self.latency_batch_sizes)}

  def reference_points(self) -> Dict[str, Dict[str, float]]:
    return {}
