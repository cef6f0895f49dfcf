"""Checkpoints with Orbax: async saves under DIR/checkpoints (one folder per step), keep the
last N, and restore the newest one that reads back whole.

Orbax writes each step into a temporary folder and renames it when complete, so a kill during
a save never leaves a partial folder under a step name; a folder damaged afterwards (truncated
or corrupted files) fails to restore, is reported, and the previous step is used instead.
"""
import os
import sys
from typing import Any, Optional, Tuple

import jax
import orbax.checkpoint as ocp

from jaxgan.errors import CheckpointError


class Checkpoints:

  def __init__(self, directory: str, keep: int):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=True))

  def steps(self):
    return sorted(self.manager.all_steps())

  def restore_latest(self, target: Any) -> Tuple[Any, Optional[int]]:
    """Restores the newest readable checkpoint into the structure and shardings of `target`.

    Returns (state, step), or (target, None) when there is no checkpoint. Unreadable
    checkpoints are reported on stderr and skipped; if none is readable, raises
    CheckpointError and leaves every file in place.
    """
    steps = self.steps()
    if not steps:
      return target, None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    failures = []
    for step in reversed(steps):
      try:
        state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # Orbax raises many kinds for damaged files.
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        print(f'warning: checkpoint step {step} in {self.directory} is unreadable ({reason}); '
              'trying an earlier one', file=sys.stderr)
        failures.append(step)
        continue
      if failures:
        # Newer damaged checkpoints would shadow the good one in later runs; move them aside.
        for bad in failures:
          self._quarantine(bad)
      return state, step
    raise CheckpointError(
        f'no readable checkpoint in {self.directory} (tried steps {", ".join(map(str, reversed(steps)))}); '
        'nothing was changed: move the folder away to start afresh')

  def _quarantine(self, step: int) -> None:
    if jax.process_index() != 0:
      return
    path = os.path.join(self.directory, str(step))
    if os.path.isdir(path):
      os.replace(path, os.path.join(os.path.dirname(self.directory), f'corrupt_checkpoint_{step}'))
    self.manager.reload()

  def save(self, step: int, state: Any) -> None:
    if step in self.manager.all_steps():
      return
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
