"""Errors meant for people: each carries one sentence saying what is wrong and how to fix it.

`launch.py` turns any `UserError` into that sentence on stderr and exit status 2; everything
else escaping the training loop is a bug and keeps its traceback.
"""


class UserError(Exception):
  """Bad input from the user (config, data, workdir, checkpoint): exit status 2."""


class ConfigError(UserError):
  """The config is invalid (unknown field, wrong type, value out of range, unknown name)."""


class DataError(UserError):
  """The dataset is missing or unusable."""


class CheckpointError(UserError):
  """No checkpoint in the workdir can be restored."""


class WorkdirError(UserError):
  """The workdir cannot be created or written."""


class NonFiniteError(UserError):
  """Training produced NaN or Inf and the config asked to stop on it."""
