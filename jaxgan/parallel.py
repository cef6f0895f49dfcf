"""Devices: one mesh with a `data` axis over every device of every process.

Batches are sharded along `data`, everything else (parameters, optimizer state, the in-memory
dataset) is replicated, and `jax.jit` inserts the collectives. A single CPU is a mesh of one;
8 simulated CPU devices, a GPU host or a TPU pod slice take the same path.
"""
import os
from typing import Any, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.errors import ConfigError

DATA_AXIS = 'data'


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
  """Starts multi-host JAX when asked by flags or by the usual environment.

  With explicit flags, they are used as given; otherwise `jax.distributed.initialize()` is
  called when the environment names a cluster (JAX_COORDINATOR_ADDRESS, a TPU pod, SLURM,
  Open MPI), and nothing happens for a plain single-process run.
  """
  if coordinator_address or num_processes or process_id is not None:
    if not (coordinator_address and num_processes and process_id is not None):
      raise ConfigError('multi-host needs all of --coordinator_address, --num_processes and --process_id')
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
    return
  cluster_env = ('JAX_COORDINATOR_ADDRESS', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE',
                 'TPU_WORKER_HOSTNAMES', 'MEGASCALE_COORDINATOR_ADDRESS')
  if any(os.environ.get(name) for name in cluster_env):
    jax.distributed.initialize()


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


def fetch(tree: Any) -> Any:
  """Brings a (replicated) tree to host numpy on every process."""
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)
