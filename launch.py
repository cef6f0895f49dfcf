"""Runs one experiment: python launch.py --config=configs/dcgan.py --workdir=runs/dcgan [--config.FIELD=VALUE ...]

Multi-host: run the same command on every host, adding
  --coordinator_address=HOST0:PORT --num_processes=N --process_id=I
(or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), or add --distributed to let
JAX find them (Cloud TPU pod slices, SLURM, Open MPI, Kubernetes). See docs/reliability.md.

Exit status: 0 done (or stopped cleanly by SIGTERM/SIGINT after checkpointing); 2 bad input
(config, data, workdir, checkpoints), training stopped on NaN/Inf, or a fault of the machine
(disk full, workdir read-only or removed, memory exhausted: jaxgan.errors.ResourceError), with
one line on stderr saying what and how to fix it; 130 a second SIGINT/SIGTERM cut the stop
short; anything else is a bug.
"""
import time

STARTED = time.perf_counter()   # before the imports, so the start-up line counts them

import argparse  # noqa: E402
import sys  # noqa: E402

USAGE = ('python launch.py --config=configs/NAME.py --workdir=DIR [--config.FIELD=VALUE ...] '
         '[--coordinator_address=HOST:PORT --num_processes=N --process_id=I | --distributed]')


class _UsageError(Exception):
  pass


class _Parser(argparse.ArgumentParser):
  """argparse, but a mistake is one line (raised, not printed with the usage block)."""

  def error(self, message):
    raise _UsageError(message)


def parse_args(argv):
  parser = _Parser(
      usage=USAGE, description='Train a jaxgan experiment.',
      epilog='Any config field can be overridden: --config.optim.g_lr=1e-4', allow_abbrev=False)
  parser.add_argument('--config', required=True, help='experiment file, e.g. configs/dcgan.py')
  parser.add_argument('--workdir', required=True, help='output folder; re-running resumes there')
  parser.add_argument('--coordinator_address', default=None,
                      help='multi-host: HOST:PORT of process 0 (else taken from the environment)')
  parser.add_argument('--num_processes', type=int, default=None, help='multi-host: process count')
  parser.add_argument('--process_id', type=int, default=None, help='multi-host: this process, 0..N-1')
  parser.add_argument('--distributed', action='store_true',
                      help='multi-host: let JAX detect the cluster (Cloud TPU pod slice, SLURM, '
                           'Open MPI, Kubernetes) instead of the three flags above')
  known, rest = parser.parse_known_args(argv)
  from jaxgan.config import command_line_overrides
  from jaxgan.errors import ConfigError
  try:
    return known, command_line_overrides(rest)
  except ConfigError as e:
    raise _UsageError(str(e)) from None


def _one_line(text: str) -> str:
  return ' '.join(str(text).split())


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  from jaxgan.errors import UserError
  try:
    args, overrides = parse_args(argv)
  except _UsageError as e:
    print(f'error: {_one_line(e)}; usage: {USAGE}', file=sys.stderr)
    return 2
  except SystemExit as e:  # --help
    return 0 if not e.code else 2
  try:
    from jaxgan import config as config_lib
    config = config_lib.load_config_file(args.config)
    config_lib.apply_overrides(config, overrides)
    config_lib.validate(config)
    from jaxgan import parallel, train
    train.check_workdir(args.workdir)
    parallel.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id,
                                    detect=args.distributed)
    train.run(config, args.workdir, started_at=STARTED)
  except UserError as e:
    print(f'error: {_one_line(e)}', file=sys.stderr, flush=True)
    return 2
  except KeyboardInterrupt:
    print('error: interrupted a second time while stopping; the last completed checkpoint is '
          'kept, re-run the same command to resume', file=sys.stderr, flush=True)
    return 130
  return 0


if __name__ == '__main__':
  sys.exit(main())
