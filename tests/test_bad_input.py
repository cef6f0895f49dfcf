"""Bad input: each case gives ONE line on stderr (no traceback) and exit status 2.

Most cases run `launch.main(argv)` in this process (they fail before anything compiles); a few
run launch.py as a real subprocess to check what a shell sees.
"""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, launch as run_launch
from tests.test_reliability import _args as reliability_args, shared  # noqa: F401 (fixture)

DCGAN = os.path.join(ROOT, 'configs', 'dcgan.py')


def _write(path, text):
  with open(path, 'w') as f:
    f.write(text)
  return str(path)


def _unwritable(tmp_path):
  if os.geteuid() == 0:  # root writes anywhere a permission bit would stop; sysfs refuses
    return '/sys/jaxgan_unwritable/run'
  folder = tmp_path / 'readonly'
  folder.mkdir()
  folder.chmod(0o500)
  return str(folder / 'run')


def _config_file(tmp, text):
  return ['--config=' + _write(tmp / 'bad_config.py', text), f'--workdir={tmp / "run"}']


# name: (argv builder(tmp, data_dir) -> argv, a substring the one line must hold)
# `base` is a valid tiny run; each case spoils one thing.
def _base(tmp, data_dir, workdir=None):
  return [f'--config={DCGAN}', f'--workdir={workdir or tmp / "run"}',
          f"--config.data.data_dir='{data_dir}'", '--config.model.g_features=8',
          '--config.model.d_features=8', '--config.train.batch_size=16',
          '--config.train.num_steps=2', "--config.train.progress_bar='no'"]


CASES = {
    # command line
    'missing --workdir': (lambda t, d: [f'--config={DCGAN}'],
                          'the following arguments are required: --workdir'),
    'missing --config': (lambda t, d: [f'--workdir={t / "run"}'],
                         'the following arguments are required: --config'),
    'unknown flag': (lambda t, d: _base(t, d) + ['--learning_rate=3'],
                     "unknown argument '--learning_rate=3'"),
    'flag of the wrong type': (lambda t, d: _base(t, d) + ['--num_processes=two'],
                               "argument --num_processes: invalid int value: 'two'"),
    # config files
    'missing config file': (lambda t, d: ['--config=configs/no_such.py', f'--workdir={t / "run"}'],
                            "config file 'configs/no_such.py' does not exist"),
    'config file that does not parse': (
        lambda t, d: _config_file(t, 'def get_config(:\n  pass\n'), 'does not parse: line 1'),
    'config file that fails on import': (
        lambda t, d: _config_file(t, 'import no_such_module\n'),
        'failed to load: ModuleNotFoundError'),
    'config file without get_config': (
        lambda t, d: _config_file(t, 'x = 1\n'), 'has no get_config() function'),
    'get_config returning a dict': (
        lambda t, d: _config_file(t, 'def get_config():\n  return {}\n'),
        'must return an ml_collections.ConfigDict'),
    # overrides and values
    'unknown config field': (lambda t, d: _base(t, d) + ['--config.optim.g_lrr=1e-4'],
                             "unknown config field 'optim.g_lrr'"),
    'unknown config group': (lambda t, d: _base(t, d) + ['--config.nosuch.field=1'],
                             "unknown config field 'nosuch'"),
    'override without a value': (lambda t, d: _base(t, d) + ['--config.train.num_steps'],
                                 "needs a value"),
    'a group set to a value': (lambda t, d: _base(t, d) + ['--config.optim=3'],
                               'optim is a group of fields'),
    'string for an integer': (lambda t, d: _base(t, d) + ['--config.train.num_steps=many'],
                              'train.num_steps must be an integer'),
    'fraction for an integer': (lambda t, d: _base(t, d) + ['--config.train.batch_size=16.5'],
                                'train.batch_size must be an integer'),
    'string for a number': (lambda t, d: _base(t, d) + ['--config.optim.g_lr=fast'],
                            'optim.g_lr must be a number'),
    'number for a boolean': (lambda t, d: _base(t, d) + ['--config.model.g_batch_norm=3'],
                             'model.g_batch_norm must be true or false'),
    'negative learning rate': (lambda t, d: _base(t, d) + ['--config.optim.d_lr=-2e-4'],
                               'optim.d_lr must be in (0.0, 10.0]'),
    'zero steps': (lambda t, d: _base(t, d) + ['--config.train.num_steps=0'],
                   'train.num_steps must be >= 1'),
    'keep no checkpoints': (lambda t, d: _base(t, d) + ['--config.train.keep_checkpoints=0'],
                            'train.keep_checkpoints must be >= 1'),
    'unknown optimizer': (lambda t, d: _base(t, d) + ['--config.optim.name=adamw'],
                          'optim.name must be one of adam, optax_adam, rmsprop, sgd'),
    'unknown on_nonfinite': (lambda t, d: _base(t, d) + ['--config.train.on_nonfinite=ignore'],
                             'train.on_nonfinite must be one of stop, skip, off'),
    'batch not a multiple of the pack': (lambda t, d: _base(t, d) + ['--config.model.pack=3'],
                                         'must be a multiple of model.pack=3'),
    'gradient penalty with BatchNorm': (
        lambda t, d: _base(t, d) + ["--config.regularizer.name='gradient_penalty'"],
        'needs a critic without BatchNorm'),
    # names resolved through registries
    'unknown model': (lambda t, d: _base(t, d) + ['--config.model.generator=stylegan'],
                      "unknown generator 'stylegan' (model.generator)"),
    'unknown objective': (lambda t, d: _base(t, d) + ['--config.objective=relativistic'],
                          "unknown objective 'relativistic'"),
    'unknown trainer': (lambda t, d: _base(t, d) + ['--config.trainer=magic'],
                        "unknown trainer 'magic'"),
    # data
    'unknown dataset': (lambda t, d: _base(t, d) + ['--config.data.name=no_such_dataset'],
                        "unknown dataset 'no_such_dataset'"),
    'dataset without the split': (lambda t, d: _base(t, d) + ['--config.data.train_split=valid'],
                                  "has no split 'valid'"),
    'dataset without the label feature': (
        lambda t, d: _base(t, d) + ['--config.data.label_key=digit'], "has no feature 'digit'"),
    'image size the nets cannot produce': (
        lambda t, d: _base(t, d) + ['--config.data.image_size=30'],
        'the dcgan nets cannot produce 30x30 images'),
    'image size far beyond the data': (
        lambda t, d: _base(t, d) + ['--config.data.image_size=1024'],
        'data.image_size=1024 is more than 4x the dataset images'),
    'batch larger than the dataset': (
        lambda t, d: _base(t, d) + ['--config.train.batch_size=8192'],
        'fewer than train.batch_size=8192'),
    # workdir
    'workdir that is a file': (
        lambda t, d: _base(t, d, workdir=_write(t / 'afile', 'x')), 'is a file; pass a folder'),
    'workdir inside a file': (
        lambda t, d: _base(t, d, workdir=os.path.join(_write(t / 'afile', 'x'), 'run')),
        'which is a file'),
    'unwritable workdir': (lambda t, d: _base(t, d, workdir=_unwritable(t)), 'is not writable'),
    # multi-host flags
    'incomplete multi-host flags': (lambda t, d: _base(t, d) + ['--num_processes=2'],
                                    'multi-host needs all of --coordinator_address'),
    'process id out of range': (
        lambda t, d: _base(t, d) + ['--coordinator_address=127.0.0.1:1234', '--num_processes=2',
                                    '--process_id=2'], '--process_id must be in [0, 1]'),
    'coordinator address without a port': (
        lambda t, d: _base(t, d) + ['--coordinator_address=10.0.0.2', '--num_processes=2',
                                    '--process_id=0'], 'must be HOST:PORT'),
}

# Cases that fail before the workdir is touched: it must not exist afterwards.
BEFORE_WORKDIR = {name for name in CASES if not name.startswith(('workdir', 'unwritable')) and
                  name not in ('unknown model', 'unknown objective', 'unknown trainer',
                               'unknown dataset', 'dataset without the split',
                               'dataset without the label feature',
                               'image size the nets cannot produce',
                               'image size far beyond the data', 'batch larger than the dataset',
                               'incomplete multi-host flags', 'process id out of range',
                               'coordinator address without a port')}


def test_there_are_at_least_25_distinct_cases():
  assert len(CASES) >= 25 and len({message for _, message in CASES.values()}) == len(CASES)


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, data_dir, capsys):
  import launch
  build, message = CASES[name]
  argv = build(tmp_path, data_dir)
  status = launch.main(argv)
  captured = capsys.readouterr()
  lines = captured.err.strip().splitlines()
  assert status == 2, (status, captured.err[-2000:])
  assert len(lines) == 1, captured.err
  assert lines[0].startswith('error: ') and message in lines[0], lines[0]
  assert 'Traceback' not in captured.err and 'Traceback' not in captured.out
  if name in BEFORE_WORKDIR:
    assert not (tmp_path / 'run').exists()


def test_resuming_with_a_different_model_is_one_line_exit_2_and_changes_nothing(
    shared, tmp_path, capsys):
  """A workdir trained with g_features=8, resumed with 16: said plainly, nothing touched."""
  import launch
  workdir = tmp_path / 'run'
  shutil.copytree(os.path.join(shared.reference, 'checkpoints'), workdir / 'checkpoints')
  argv = [a for a in reliability_args(shared, workdir) if 'g_features' not in a]
  status = launch.main(argv + ['--config.model.g_features=16'])
  lines = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(lines) == 1, lines
  assert 'hold a different model' in lines[0] and 'g.params' in lines[0], lines[0]
  assert not (workdir / 'config.json').exists() and not (workdir / 'metrics.jsonl').exists()


SUBPROCESS_CASES = [
    (['--config=configs/dcgan.py', '--workdir={tmp}/run', '--epochs=3'], {},
     "error: unknown argument '--epochs=3'"),
    (['--config={tmp}/broken.py', '--workdir={tmp}/run'], {}, 'does not parse: line 2'),
    # Needs 8 devices, so a process of its own; the workdir check comes first here.
    (['--config=configs/dcgan.py', '--workdir={tmp}/run', '--config.train.batch_size=12'],
     {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'},
     'error: train.batch_size=12 does not divide over 8 devices; use a multiple of 8'),
]


@pytest.mark.parametrize('case', range(len(SUBPROCESS_CASES)))
def test_bad_input_in_a_real_process(case, tmp_path, data_dir):
  argv, env, message = SUBPROCESS_CASES[case]
  _write(tmp_path / 'broken.py', 'def get_config():\n  return = 3\n')
  argv = [a.format(tmp=tmp_path) for a in argv] + [f"--config.data.data_dir='{data_dir}'"]
  result = run_launch(argv, env_extra=env)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(lines) == 1 and message in lines[0], result.stderr
  if case < 2:
    assert not (tmp_path / 'run').exists()
