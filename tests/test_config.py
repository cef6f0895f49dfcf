"""Config files, overrides and validation."""
import importlib
import os

import pytest

from jaxgan import config as config_lib
from jaxgan.errors import ConfigError
from tests.conftest import ROOT, launch

# Every experiment file: each must load and validate as it stands (the family defaults and
# common.py are not experiments).
EXPERIMENTS = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, 'configs'))
                     if name.endswith('.py') and name != '__init__.py'
                     and name != 'common.py' and not name.endswith('_common.py'))


def test_every_config_file_is_listed():
  assert len(EXPERIMENTS) >= 17 and {'gan', 'dcgan', 'vae', 'conv_vae', 'mixture_gan'} <= set(EXPERIMENTS)


@pytest.mark.parametrize('name', EXPERIMENTS)
def test_experiment_configs_load_and_validate(name):
  config = config_lib.load_config_file(f'{ROOT}/configs/{name}.py')
  config_lib.validate(config)
  from jaxgan.trainers import TRAINERS
  assert config.trainer in TRAINERS.names()
  if config.trainer == 'vae':   # a VAE config carries no adversarial fields
    assert not {'objective', 'regularizer', 'info'} & set(config.keys())
    assert 'd_lr' not in config.optim and config.optim.lr == 1e-3


def test_the_tutorial_defaults_of_the_image_gans():
  for name in ('gan', 'bn_gan', 'dcgan'):
    config = config_lib.load_config_file(f'{ROOT}/configs/{name}.py')
    assert config.train.batch_size == 64 and config.optim.g_lr == 2e-4


def test_experiments_differ_from_defaults_as_the_originals_say():
  gan = importlib.import_module('configs.gan').get_config()
  assert tuple(gan.model.g_hidden) == (256, 512, 1024) and tuple(gan.model.d_hidden) == (512, 256)
  assert gan.optim.b1 == 0.5 and gan.model.g_activation == 'leaky_relu'  # see configs/gan.py
  dcgan = importlib.import_module('configs.dcgan').get_config()
  assert dcgan.optim.b1 == 0.5 and dcgan.model.generator == 'dcgan'


def test_overrides_parse_and_coerce():
  config = importlib.import_module('configs.dcgan').get_config()
  config_lib.apply_overrides(config, ['optim.g_lr=1e-4', 'train.num_steps=12', 'data.name=cifar10',
                                      'model.g_hidden=(32, 64)', 'optim.d_lr=1'])
  assert config.optim.g_lr == 1e-4 and config.train.num_steps == 12
  assert config.data.name == 'cifar10' and tuple(config.model.g_hidden) == (32, 64)
  assert isinstance(config.optim.d_lr, float)
  # A string field keeps the word as typed, even one that parses as None, a bool or a number.
  inpainting = importlib.import_module('configs.inpainting').get_config()
  config_lib.apply_overrides(inpainting, ['model.prefill=biharmonic', 'model.prefill=none',
                                          'data.name=True', 'data.label_key=1e3'])
  assert inpainting.model.prefill == 'none' and inpainting.data.name == 'True'
  assert inpainting.data.label_key == '1e3'


@pytest.mark.parametrize('override, message', [
    ('optim.g_lrr=1e-4', "unknown config field 'optim.g_lrr'"),
    ('nosuch.field=1', "unknown config field 'nosuch'"),
    ('train.num_steps=abc', 'train.num_steps must be an integer'),
    ('train.num_steps=1.5', 'train.num_steps must be an integer'),
    ('optim.g_lr=fast', 'optim.g_lr must be a number'),
    ('model.g_batch_norm=3', 'model.g_batch_norm must be true or false'),
    ('optim=3', 'optim is a group of fields'),
])
def test_bad_overrides_are_rejected(override, message):
  config = importlib.import_module('configs.dcgan').get_config()
  with pytest.raises(ConfigError, match=message):
    config_lib.apply_overrides(config, [override])


@pytest.mark.parametrize('override, message', [
    ('optim.g_lr=-1e-4', 'optim.g_lr must be in'),
    ('train.batch_size=0', 'train.batch_size must be >= 1'),
    ('data.in_memory=maybe', 'data.in_memory must be one of'),
    ('data.resize=crop', 'data.resize must be one of'),
    ('optim.name=adamw', 'optim.name must be one of'),
])
def test_invalid_values_are_rejected(override, message):
  config = importlib.import_module('configs.dcgan').get_config()
  config_lib.apply_overrides(config, [override])
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(config)


def test_launch_rejects_unknown_field_with_one_line_and_exit_2(tmp_path):
  result = launch(['--config=configs/dcgan.py', f'--workdir={tmp_path}/run',
                   '--config.optim.g_lrr=1e-4'])
  assert result.returncode == 2
  assert result.stderr.strip() == "error: unknown config field 'optim.g_lrr'"
  assert not (tmp_path / 'run').exists()  # rejected before anything was written
