"""Compressing image-to-image generators: `python -m jaxgan.compress --method=int8_weights` on
a pix2pix and a CycleGAN run (tiny nets, a couple of steps on folders of 32x32 images) writes
a run that `python -m jaxgan.translate` and `python -m jaxgan.evaluate` load as they load any
run, translating close to the float run with int8 kernels (a quarter of the bytes); the other
methods are one-line errors."""
import os

import numpy as np
import pytest

from configs import cyclegan as cyclegan_config
from configs import pix2pix as pix2pix_config
from jaxgan import train
from tests.conftest import read_checkpoint
from tests.test_image_to_image import _write_pairs, tiny

STEPS = 2


def _write_domains(folder, n, size=32):
  """A CycleGAN folder: FOLDER/trainA, trainB, testA, testB (A random grey blocks, B their
  negatives, unpaired by their order)."""
  from PIL import Image
  rng = np.random.default_rng(2)
  for split, count in (('train', n), ('test', 4)):
    for domain in 'AB':
      os.makedirs(folder / f'{split}{domain}', exist_ok=True)
      for i in range(count):
        a = np.kron(rng.random((size // 4, size // 4)) > 0.5, np.ones((4, 4))).astype(np.uint8) * 255
        Image.fromarray(a if domain == 'A' else 255 - a).save(folder / f'{split}{domain}' / f'{i}.png')


def _tiny_run(config, folder):
  config = tiny(config, '', **{'train.num_steps': STEPS, 'train.log_every_steps': STEPS,
                               'train.sample_every_steps': 0,
                               'train.checkpoint_every_steps': STEPS})
  config.data.folder = str(folder)
  config.data.image_size = 0
  config.data.label_key = ''
  return config


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """{'pix2pix': workdir, 'cyclegan': workdir}, each trained for STEPS steps."""
  root = tmp_path_factory.mktemp('translation_runs')
  _write_pairs(root / 'pairs', 4)
  _write_domains(root / 'domains', 4)
  out = {}
  for name, config, folder in (('pix2pix', pix2pix_config.get_config(), root / 'pairs'),
                               ('cyclegan', cyclegan_config.get_config(), root / 'domains')):
    out[name] = str(root / name)
    train.run(_tiny_run(config, folder), out[name])
  return out


def _generator_arrays(checkpoints, step):
  """{path: array} of the generator(s) in a checkpoint: g's params and batch stats of a float
  run, the params and batch_stats of an int8 one."""
  keep = ("['g']['params']", "['g']['batch_stats']", "['params']", "['batch_stats']")
  return {k: v for k, v in read_checkpoint(checkpoints, step).items() if k.startswith(keep)}


def _image(path, size, channels, seed):
  from PIL import Image
  rng = np.random.default_rng(seed)
  pixels = (rng.random((size, size, channels)) * 255).astype(np.uint8)
  Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
  return str(path)


def _pixels(path):
  from PIL import Image
  return np.asarray(Image.open(path)).astype(np.int32)


@pytest.mark.parametrize('family,directions', [('pix2pix', ('AtoB',)),
                                                ('cyclegan', ('AtoB', 'BtoA'))])
def test_int8_weights_translator_translates_close_to_the_float_run(runs, family, directions,
                                                                     tmp_path, capsys):
  """Tolerances, measured on these runs (each int8 kernel is within half an int8 step, its
  channel's |w|max / 254, of the float one). The translate command's PNGs, 0..255: pix2pix mean
  |int8 - float| 0.002 px, max 1; CycleGAN 0.43 (AtoB) and 0.53 (BtoA) px, max 2; asserted
  mean < 1.5 px, max <= 6. Before rounding (tanh outputs in [-1, 1], translate_a_to_b on 2
  random images): pix2pix mean 3e-5, CycleGAN 3e-3; asserted 0 < mean < 0.01, so a float
  net passed off as int8 fails. Generator bytes int8 / float: 0.258 and 0.266."""
  from jaxgan import compress, evaluate, translate
  workdir = runs[family]
  out = str(tmp_path / f'{family}_int8')
  assert compress.main([f'--workdir={workdir}', f'--out={out}', '--method=int8_weights']) == 0
  assert 'jaxgan.translate' in capsys.readouterr().out
  config = evaluate.load_run_config(out)
  assert config.trainer == family and config.quantize.activations is False
  assert config.train.num_steps == STEPS

  # On disk: every kernel int8 (qvalue) with a float32 scale per output channel, and the
  # generator(s) a bit over a quarter of the float bytes (norm parameters stay float32).
  float_g = _generator_arrays(os.path.join(workdir, 'checkpoints'), STEPS)
  int8_g = _generator_arrays(os.path.join(out, 'checkpoints'), STEPS)
  qvalues = [k for k in int8_g if k.endswith("['qvalue']")]
  assert qvalues and all(int8_g[k].dtype == np.int8 for k in qvalues)
  assert len(qvalues) == len([k for k in float_g if k.endswith("['kernel']")])
  if family == 'cyclegan':
    assert any("['a_to_b']" in k for k in qvalues) and any("['b_to_a']" in k for k in qvalues)
  float_bytes = sum(v.nbytes for v in float_g.values())
  int8_bytes = sum(v.nbytes for v in int8_g.values())
  assert 0.25 * float_bytes < int8_bytes < 0.3 * float_bytes, (int8_bytes, float_bytes)
  assert not any("['d']" in k or 'opt_state' in k for k in read_checkpoint(
      os.path.join(out, 'checkpoints'), STEPS))   # the generator(s) alone

  # The translate command, on the float run and on the int8 one, one image per direction.
  channels = 3 if family == 'pix2pix' else 1
  for direction in directions:
    image = _image(tmp_path / f'in_{direction}.png', 32, channels, seed=len(direction))
    got, want = tmp_path / f'int8_{direction}', tmp_path / f'float_{direction}'
    for run, target in ((out, got), (workdir, want)):
      assert translate.main([f'--workdir={run}', f'--input={image}', f'--output={target}',
                             f'--direction={direction}']) == 0
    got, want = _pixels(got / f'in_{direction}.png'), _pixels(want / f'in_{direction}.png')
    assert got.shape == want.shape == _pixels(image).shape
    error = np.abs(got - want)
    assert error.mean() < 1.5 and error.max() <= 6, (direction, error.mean(), error.max())

  # Before rounding to pixels the outputs differ: the int8 net is not the float one.
  import jax
  float_run, float_state, _ = evaluate.restore_trained_state(evaluate.load_run_config(workdir),
                                                             workdir)
  int8_run, int8_state, step = evaluate.restore_trained_state(config, out)
  assert step == STEPS
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, channels), minval=-1, maxval=1)
  fn = lambda run: jax.jit(run.trainer.functions()['translate_a_to_b'])  # noqa: E731
  a, b = np.asarray(fn(int8_run)(int8_state, x)), np.asarray(fn(float_run)(float_state, x))
  assert 0 < np.abs(a - b).mean() < 0.01

  # evaluate scores it as it scores the float run (the translation evaluator).
  scores = {}
  for name, run in (('int8', out), ('float', workdir)):
    got_step, scores[name], _, _ = evaluate.evaluate_run(run, ['eval.reference_points=False'])
    assert got_step == STEPS
  assert scores['int8'].keys() == scores['float'].keys() and scores['int8']
  for metric, value in scores['float'].items():
    assert abs(scores['int8'][metric] - value) <= 0.02 * max(1.0, abs(value)), (
        metric, scores['int8'][metric], value)


def test_methods_that_do_not_apply_to_image_to_image_runs_are_one_line_errors(runs, tmp_path,
                                                                              capsys):
  from jaxgan import compress
  from jaxgan.errors import ConfigError
  workdir = runs['pix2pix']
  for method, message in (
      ('dense', "--method=dense exports a prune or distill run, and this is a 'pix2pix' run; "
                'an image-to-image generator is compressed with --method=int8_weights'),
      ('int8', "--method=int8 (int8 activations) needs a DCGAN generator, and this is a "
               "'pix2pix' run; --method=int8_weights")):
    out = tmp_path / method
    assert compress.main([f'--workdir={workdir}', f'--out={out}', f'--method={method}']) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()   # refused before anything is written
  # An int8 run is compressed no further, and is not trained.
  int8 = str(tmp_path / 'int8')
  assert compress.main([f'--workdir={workdir}', f'--out={int8}', '--method=int8_weights']) == 0
  capsys.readouterr()
  assert compress.main([f'--workdir={int8}', f'--out={tmp_path / "again"}',
                        '--method=int8_weights']) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and 'is already an int8 pix2pix run' in lines[0], lines
  from jaxgan.evaluate import load_run_config
  from jaxgan.trainers import make_trainer
  config = load_run_config(int8)
  from jaxgan.data.translation import TranslationInfo
  trainer = make_trainer(config, TranslationInfo('pairs', (32, 32, 3), (32, 32, 3), 0, 4, 4, True))
  with pytest.raises(ConfigError, match='not trained: fine-tune the float run'):
    trainer.make_step()
  # An int8 image-to-image generator keeps float activations.
  from jaxgan import config as config_lib
  config.quantize.activations = True
  with pytest.raises(ConfigError, match='quantize.activations must be false'):
    config_lib.validate(config)
