"""Devices: one mesh with a `data` axis over every device of every process.

Batches are sharded along `data`, everything else (parameters, optimizer state, the in-memory
dataset) is replicated, and `jax.jit` inserts the collectives. A single CPU is a mesh of one;
8 simulated CPU devices, a GPU host, several GPU hosts or a TPU pod slice take the same path.

Multi-host: every process runs the same command; `initialize_distributed` joins them (from
flags, from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID, or from a cluster JAX
detects: SLURM, Open MPI, Cloud TPU pod slices, Kubernetes). Each process then feeds its own share of
every global batch (`global_batch`) or holds the whole in-memory dataset (`replicate_host_array`).
"""
import os
import re
from typing import Any, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.errors import ConfigError

DATA_AXIS = 'data'



def _cluster_in_environment() -> bool:
  """True when the environment says this process is one of several that JAX can detect."""
  def more_than_one(name):
    try:
      return int(os.environ.get(name, '1')) > 1
    except ValueError:
      return False
  return (more_than_one('SLURM_NTASKS') or more_than_one('OMPI_COMM_WORLD_SIZE') or
          ',' in os.environ.get('TPU_WORKER_HOSTNAMES', '') or
          bool(os.environ.get('MEGASCALE_COORDINATOR_ADDRESS')))


def _env_int(name: str) -> Optional[int]:
  value = os.environ.get(name)
  if value in (None, ''):
    return None
  try:
    return int(value)
  except ValueError:
    raise ConfigError(f'environment variable {name}={value!r} must be an integer') from None


def distributed_settings(coordinator_address: Optional[str] = None,
                         num_processes: Optional[int] = None,
                         process_id: Optional[int] = None, detect: bool = False):
  """Resolves and checks the multi-host settings. Returns None for a single-process run,
  'auto' to let JAX detect the cluster, or (address, num_processes, process_id).

  `detect` (launch.py --distributed) asks for JAX's cluster detection outright: on a Cloud
  TPU pod slice it reads the TPU metadata, which no environment variable announces.
  """
  coordinator_address = coordinator_address or os.environ.get('JAX_COORDINATOR_ADDRESS') or None
  if num_processes is None:
    num_processes = _env_int('JAX_NUM_PROCESSES')
  if process_id is None:
    process_id = _env_int('JAX_PROCESS_ID')
  given = (coordinator_address is not None, num_processes is not None, process_id is not None)
  if not any(given):
    return 'auto' if detect or _cluster_in_environment() else None
  if not all(given):
    if detect or _cluster_in_environment():
      return 'auto'
    raise ConfigError('multi-host needs all of --coordinator_address, --num_processes and '
                      '--process_id (or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID)')
  if not re.fullmatch(r'(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}', coordinator_address):
    raise ConfigError(f'--coordinator_address={coordinator_address!r} must be HOST:PORT, '
                      'e.g. 10.0.0.2:8476 (the address of process 0)')
  if num_processes < 1:
    raise ConfigError(f'--num_processes must be >= 1, got {num_processes}')
  if not 0 <= process_id < num_processes:
    raise ConfigError(f'--process_id must be in [0, {num_processes - 1}] for '
                      f'--num_processes={num_processes}, got {process_id}')
  return coordinator_address, num_processes, process_id


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None, detect: bool = False,
                           timeout_seconds: int = 300) -> None:
  """Starts multi-host JAX when asked by flags or by the environment; else does nothing.

  Must run before anything touches a JAX device.
  """
  settings = distributed_settings(coordinator_address, num_processes, process_id, detect)
  if settings is None:
    return
  try:
    if settings == 'auto':
      jax.distributed.initialize(coordinator_address=coordinator_address,
                                 num_processes=num_processes, process_id=process_id,
                                 initialization_timeout=timeout_seconds)
    else:
      address, n, i = settings
      if n == 1:
        return  # One process is a plain run.
      jax.distributed.initialize(coordinator_address=address, num_processes=n, process_id=i,
                                 initialization_timeout=timeout_seconds)
  except (RuntimeError, ValueError, TypeError) as e:  # XlaRuntimeError is a RuntimeError.
    where = 'from the cluster environment' if settings == 'auto' else (
        f'at {settings[0]} as process {settings[2]} of {settings[1]}')
    reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    raise ConfigError(f'could not join the multi-host run {where}: {reason}; check that every '
                      'process was started with the same coordinator and process count') from None


def make_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  """Sharding of an array whose axis `batch_axis` is the batch."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def check_batch_divides(batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError(f'train.batch_size={batch_size} does not divide over {n} devices; '
                      f'use a multiple of {n}')
  if batch_size % jax.process_count():
    raise ConfigError(f'train.batch_size={batch_size} does not divide over {jax.process_count()} processes')


def replicate_host_array(array: np.ndarray, mesh: Mesh) -> jax.Array:
  """Places a host array that every process holds identically on every device."""
  return jax.make_array_from_callback(array.shape, replicated(mesh), lambda index: array[index])


def global_batch(local: Any, mesh: Mesh, batch_axis: int) -> Any:
  """Assembles per-process batch shards (numpy) into global arrays sharded along the batch."""
  sharding = batch_sharding(mesh, batch_axis)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local)


def to_host(x: Any) -> np.ndarray:
  """One array's global value as numpy, on every process.

  A replicated array spanning several processes is not fully addressable, but each process
  holds a whole copy; a sharded one is gathered.
  """
  if not isinstance(x, jax.Array) or x.is_fully_addressable:
    return np.asarray(jax.device_get(x))
  if x.sharding.is_fully_replicated:
    return np.asarray(x.addressable_data(0))
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def fetch(tree: Any) -> Any:
  """Brings a (replicated) tree to host numpy on every process."""
  return jax.tree.map(to_host, tree)


def map_in_chunks(fn, arrays, mesh: Mesh, per_call: int) -> np.ndarray:
  """fn(*chunks) over host arrays of equal length, `per_call` rows at a time, each chunk
  replicated on the mesh and the last one padded with its final row so that every call has
  one compiled shape; the outputs concatenated (on the host, padding dropped)."""
  out = []
  for start in range(0, len(arrays[0]), per_call):
    chunks = [np.asarray(a[start:start + per_call], np.float32) for a in arrays]
    n = len(chunks[0])
    if n < per_call:
      chunks = [np.concatenate([c, np.repeat(c[-1:], per_call - n, 0)]) for c in chunks]
    out.append(np.asarray(fetch(fn(*[replicate_host_array(c, mesh) for c in chunks])))[:n])
  return np.concatenate(out)


def any_process(flag: bool) -> bool:
  """True on every process when `flag` is true on any (a collective: all must call it)."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils
  flags = multihost_utils.process_allgather(np.asarray([bool(flag)], np.int32))
  return bool(np.asarray(flags).any())
