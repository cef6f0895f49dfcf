"""Distilling a pix2pix generator (configs/distill_pix2pix.py, trainer 'distill_pix2pix'): a
student of a quarter of the teacher's width learns the teacher's features and the targets with
the teacher frozen in its state, resumes exactly, and `python -m jaxgan.compress
--method=dense` writes it as a plain pix2pix run that translates exactly as the distill run
does. Tiny nets on a folder of 32x32 pairs; the teacher is a couple of pix2pix steps."""
import os

import jax
import numpy as np
import pytest

from configs import cyclegan as cyclegan_config
from configs import distill_pix2pix as distill_config
from configs import pix2pix as pix2pix_config
from jaxgan import config as config_lib
from jaxgan import train
from jaxgan.errors import ConfigError
from jaxgan.trainers import make_trainer
from tests.conftest import read_checkpoint
from tests.test_compress_translation import _tiny_run, _write_domains
from tests.test_image_to_image import _write_pairs

@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
  """(workdir of a 2-step pix2pix run of width 4, the pairs folder)."""
  root = tmp_path_factory.mktemp('distill_pix2pix')
  _write_pairs(root / 'pairs', 4)
  workdir = str(root / 'teacher')
  train.run(_tiny_run(pix2pix_config.get_config(), root / 'pairs'), workdir)
  return workdir, root / 'pairs'


def tiny_distill(teacher, width=1, **train_fields):
  workdir, folder = teacher
  config = _tiny_run(distill_config.get_config(), folder)
  config.model.g_features = width
  config.distill.teacher_workdir = workdir
  for name, value in train_fields.items():
    config.train[name] = value
  config_lib.validate(config)
  return config


def _data_info(config):
  from jaxgan.data import make_source
  return make_source(config).info


@pytest.mark.parametrize('target', ['ground_truth', 'teacher'])
def test_distillation_step_lowers_the_losses_and_keeps_the_teacher_frozen(teacher, target):
  config = tiny_distill(teacher)
  config.distill.reconstruction_target = target
  from jaxgan.data import make_source
  source = make_source(config)
  pairs = source.preview_batch(config.train.batch_size)   # held-out pairs, one batch
  batch = {'a': jax.numpy.asarray(pairs['a'])[None], 'b': jax.numpy.asarray(pairs['b'])[None]}
  trainer = make_trainer(config, source.info)
  # The features distilled: every normalisation layer of the 5-level U-Net.
  assert sorted(trainer.layers) == ['down_norm_1', 'down_norm_2', 'down_norm_3',
                                    'up_norm_1', 'up_norm_2', 'up_norm_3', 'up_norm_4']
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0), batch)
  teacher_run = trainer.teacher()
  # D starts from the teacher run's (GAN Compression restores it; the config's default).
  for got, want in zip(jax.tree.leaves(state.d.params), jax.tree.leaves(teacher_run.state.d.params)):
    np.testing.assert_array_equal(np.asarray(got), want)
  step = jax.jit(trainer.make_step())
  key = jax.random.PRNGKey(3)
  history = []
  for _ in range(6):   # the same batch and key each step
    state, metrics = step(state, batch, key)
    history.append({k: float(v) for k, v in metrics.items()})
  for name in ('reconstruction_loss', 'feature_loss'):
    assert history[-1][name] < history[0][name], (name, [h[name] for h in history])
  if target == 'teacher':
    assert history[-1]['l1_to_teacher'] < history[0]['l1_to_teacher']
  # The frozen teacher is the teacher run's generator, bit for bit, after training.
  want = teacher_run.state.g
  for got, want in zip(jax.tree.leaves((state.teacher.params, state.teacher.batch_stats)),
                       jax.tree.leaves((want.params, want.batch_stats))):
    np.testing.assert_array_equal(np.asarray(got), want)
  # The student has a quarter of the teacher's width (1 of 4); the 1x1 maps widen it back.
  assert state.g.params['down_0']['kernel'].shape == (4, 4, 3, 1)
  assert state.teacher.params['down_0']['kernel'].shape == (4, 4, 3, 4)
  assert state.adapters.params['up_norm_1']['kernel'].shape == (1, 4)


def test_distilled_run_resumes_exactly_and_exports_as_a_pix2pix_run(teacher, tmp_path, capsys):
  from jaxgan import compress, evaluate
  whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
  config = tiny_distill(teacher, num_steps=4, checkpoint_every_steps=2, log_every_steps=2)
  train.run(config, whole)
  first = config.copy_and_resolve_references()
  first.train.num_steps = 2
  train.run(first, split)
  train.run(config, split)
  a = read_checkpoint(os.path.join(whole, 'checkpoints'), 4)
  b = read_checkpoint(os.path.join(split, 'checkpoints'), 4)
  assert a.keys() == b.keys() and any('teacher' in k for k in a)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)

  # Exported: a plain pix2pix run without the teacher and the 1x1 maps ...
  dense = str(tmp_path / 'dense')
  assert compress.main([f'--workdir={whole}', f'--out={dense}', '--method=dense']) == 0
  assert 'trainer pix2pix, model.g_features 1' in capsys.readouterr().out
  dense_config = evaluate.load_run_config(dense)
  assert dense_config.trainer == 'pix2pix' and 'distill' not in dense_config
  assert dense_config.pix2pix.l1_weight == config.distill.reconstruction_weight
  stored = read_checkpoint(os.path.join(dense, 'checkpoints'), 4)
  assert not any('teacher' in k or 'adapters' in k for k in stored)
  # ... that translates exactly as the distill run does, with the student.
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3), minval=-1, maxval=1)
  outputs = {}
  for name, workdir in (('distill', whole), ('dense', dense)):
    run, state, step = evaluate.restore_trained_state(evaluate.load_run_config(workdir), workdir)
    assert step == 4
    outputs[name] = np.asarray(jax.jit(run.trainer.functions()['translate_a_to_b'])(state, x))
  np.testing.assert_array_equal(outputs['distill'], outputs['dense'])
  # A distill run itself is exported first, never quantized (its export is a pix2pix run,
  # which --method=int8_weights takes: tests/test_compress_translation.py).
  assert compress.main([f'--workdir={whole}', f'--out={tmp_path / "no"}',
                        '--method=int8_weights']) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and 'is exported with --method=dense' in lines[0], lines
  assert not (tmp_path / 'no').exists()


def test_distillation_says_in_one_line_what_is_wrong_with_the_teacher(teacher, tmp_path):
  workdir, folder = teacher
  config = tiny_distill(teacher)
  info = _data_info(config)
  config.distill.teacher_workdir = ''
  with pytest.raises(ConfigError, match='distill.teacher_workdir is not set'):
    make_trainer(config, info)
  # A CycleGAN run is no pix2pix teacher.
  _write_domains(tmp_path / 'domains', 2)
  cyclegan_run = str(tmp_path / 'cyclegan')
  cyclegan = _tiny_run(cyclegan_config.get_config(), tmp_path / 'domains')
  os.makedirs(cyclegan_run)
  import json
  with open(os.path.join(cyclegan_run, 'config.json'), 'w') as f:
    json.dump(cyclegan.to_dict(), f)
  config.distill.teacher_workdir = cyclegan_run
  with pytest.raises(ConfigError, match="is a 'cyclegan' run; it must be a pix2pix run") as error:
    make_trainer(config, info)
  assert '\n' not in str(error.value)
  # The student differs from its teacher in width only, and learns on its data.
  config.distill.teacher_workdir = workdir
  config.model.generator = 'resnet'
  with pytest.raises(ConfigError, match="model.generator='resnet', and the teacher .* has "
                                        "'unet'.*--config.model.generator='unet'"):
    make_trainer(config, info)
  config.model.generator = 'unet'
  config.data.crop_size = 16
  with pytest.raises(ConfigError, match='data.crop_size=16, and the teacher .* was trained with 0'):
    make_trainer(config, info)
