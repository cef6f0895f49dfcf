"""Compressing a pix2pix generator, on tiny nets over a folder of 32x32 pairs (the teacher: a
couple of pix2pix steps at width 4).

Distillation (configs/distill_pix2pix.py): a student of a quarter of the teacher's width learns
the teacher's features and the targets with the teacher frozen in its state, resumes exactly,
and `python -m jaxgan.compress --method=dense` writes it as a plain pix2pix run that translates
exactly as the distill run does. Channel pruning (configs/prune_pix2pix.py): the masked U-Net
equals its exported dense form."""
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
from tests.conftest import assert_resume_is_exact, read_checkpoint
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
  config = tiny_distill(teacher, num_steps=4, checkpoint_every_steps=2, log_every_steps=2)
  arrays = assert_resume_is_exact(config, tmp_path, first_steps=2)
  assert any('teacher' in k for k in arrays)
  whole = str(tmp_path / 'whole')

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
  with pytest.raises(ConfigError, match="data.crop_size=16, and the teacher .* has 0; the student learns on its teacher's data"):
    make_trainer(config, info)


# -- channel pruning -----------------------------------------------------------------------------

def tiny_prune(teacher, width=2):
  from configs import prune_pix2pix as prune_config
  workdir, folder = teacher
  config = _tiny_run(prune_config.get_config(), folder)
  config.prune.source_workdir = workdir
  config.prune.g_features = width
  config_lib.validate(config)
  return config


def test_a_pruned_unet_with_masks_equals_its_exported_dense_form(teacher):
  from jaxgan.data import make_source
  from jaxgan.trainers.image_to_image import run_net
  config = tiny_prune(teacher)   # width 4 -> 2: half of every channel group
  source = make_source(config)
  pairs = source.preview_batch(config.train.batch_size)
  batch = {'a': jax.numpy.asarray(pairs['a'])[None], 'b': jax.numpy.asarray(pairs['b'])[None]}
  trainer = make_trainer(config, source.info)
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0), batch)
  # Each group keeps the channels of largest filter L1 norm of the run it prunes.
  source_kernel = np.asarray(trainer.source.state.g.params['down_1']['kernel'])
  norms = np.abs(source_kernel).reshape(-1, source_kernel.shape[-1]).sum(0)
  assert set(np.flatnonzero(np.asarray(state.masks['down_1']))) == set(np.argsort(-norms)[:4])
  assert {k: int(np.sum(v)) for k, v in state.masks.items()} == {
      'down_0': 2, 'down_1': 4, 'down_2': 8, 'down_3': 16, 'down_4': 16,
      'up_1': 2, 'up_2': 4, 'up_3': 8, 'up_4': 16}   # a width-2 U-Net's widths
  step = jax.jit(trainer.make_step())
  for i in range(2):   # fine-tuning keeps the pruned channels at zero
    state, _ = step(state, batch, jax.random.PRNGKey(i))
  pruned = np.flatnonzero(np.asarray(state.masks['up_2']) == 0)
  assert not np.asarray(state.g.params['up_2']['kernel'])[..., pruned].any()

  params, stats = trainer.dense(state)
  dense_config = config.copy_and_resolve_references()
  dense_config.trainer = 'pix2pix'
  dense_config.model.g_features = 2
  del dense_config['prune']
  dense = make_trainer(dense_config, source.info)
  want = jax.eval_shape(lambda: dense.init(jax.random.PRNGKey(0), batch).g)
  assert jax.tree.map(np.shape, (params, stats)) == jax.tree.map(
      lambda s: s.shape, (want.params, want.batch_stats))
  x = batch['a'][0]
  for train_mode in (False, True):   # running averages, and batch statistics
    masked, _ = run_net(trainer.generator, state.g.params, state.g.batch_stats, x,
                        train=train_mode, update_stats=False)
    small, _ = run_net(dense.generator, params, stats, x, train=train_mode, update_stats=False)
    np.testing.assert_allclose(np.asarray(masked), np.asarray(small), atol=1e-5)


def test_pruning_and_its_export_say_in_one_line_what_is_wrong(teacher, tmp_path, capsys):
  from jaxgan import compress
  config = tiny_prune(teacher)
  config.model.norm = 'instance'
  with pytest.raises(ConfigError, match="model.norm='instance', and the run in "
                                        "prune.source_workdir has 'batch'"):
    make_trainer(config, _data_info(config))
  config = tiny_prune(teacher)
  config.prune.g_features = 4
  with pytest.raises(ConfigError, match='prune.g_features=4 must be below model.g_features=4'):
    config_lib.validate(config)
  pruned = str(tmp_path / 'pruned')
  config = tiny_prune(teacher)
  config.train.num_steps = 1
  train.run(config, pruned)
  capsys.readouterr()
  assert compress.main([f'--workdir={pruned}', f'--out={tmp_path / "q"}', '--method=int8']) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and 'a prune_pix2pix run is exported with --method=dense' in lines[0]
  assert compress.main([f'--workdir={pruned}', f'--out={tmp_path / "dense"}', '--method=dense']) == 0
  assert 'trainer pix2pix, model.g_features 2' in capsys.readouterr().out
