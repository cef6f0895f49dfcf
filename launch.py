"""Runs one experiment: python launch.py --config=configs/dcgan.py --workdir=runs/dcgan [--config.FIELD=VALUE ...]

Exit status: 0 done (or stopped cleanly by SIGTERM/SIGINT after checkpointing); 2 bad input,
with one line on stderr saying what and how to fix it; anything else is a bug.
"""
import argparse
import sys


def parse_args(argv):
  parser = argparse.ArgumentParser(
      description='Train a jaxgan experiment.',
      epilog='Any config field can be overridden: --config.optim.g_lr=1e-4')
  parser.add_argument('--config', required=True, help='experiment file, e.g. configs/dcgan.py')
  parser.add_argument('--workdir', required=True, help='output folder; re-running resumes there')
  parser.add_argument('--coordinator_address', default=None,
                      help='multi-host: host:port of process 0 (else taken from the environment)')
  parser.add_argument('--num_processes', type=int, default=None)
  parser.add_argument('--process_id', type=int, default=None)
  known, rest = parser.parse_known_args(argv)
  overrides = []
  for arg in rest:
    if not arg.startswith('--config.'):
      raise SystemExit(f'error: unknown argument {arg!r}; config fields are set as --config.FIELD=VALUE')
    overrides.append(arg[len('--config.'):])
  return known, overrides


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  from jaxgan.errors import UserError
  try:
    args, overrides = parse_args(argv)
  except SystemExit as e:
    if isinstance(e.code, str):
      print(e.code, file=sys.stderr)
    return 2 if e.code else 0
  try:
    from jaxgan import config as config_lib
    config = config_lib.load_config_file(args.config)
    config_lib.apply_overrides(config, overrides)
    config_lib.validate(config)
    from jaxgan import parallel
    parallel.initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    from jaxgan import train
    train.run(config, args.workdir)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
