"""Compressing generators: the efficiency evaluator against a hand count, distillation into a
slimmer student (its step, its frozen teacher, exact resume, its errors), channel pruning
(masked net == exported dense net) and int8 quantization (close to float)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan as dcgan_config
from jaxgan import config as config_lib
from jaxgan import train
from jaxgan.data import DatasetInfo
from jaxgan.errors import ConfigError
from jaxgan.metrics.efficiency import Efficiency
from jaxgan.trainers import make_trainer
from tests.conftest import ROOT, assert_resume_is_exact, tiny_dcgan

DIGITS = DatasetInfo('offline_mnist', (28, 28, 1), 10, 0)


@pytest.fixture(scope='module')
def teacher_workdir(data_dir, tmp_path_factory):
  """A tiny DCGAN (width 8) trained for 12 steps through the loop: the net every test
  compresses."""
  workdir = str(tmp_path_factory.mktemp('teacher'))
  train.run(tiny_dcgan(data_dir, num_steps=12, checkpoint_every_steps=12), workdir)
  return workdir


def tiny_distill(data_dir, teacher_workdir, student_features=4, **train_fields):
  config = config_lib.load_config_file(os.path.join(ROOT, 'configs', 'distill_dcgan.py'))
  tiny = tiny_dcgan(data_dir, **train_fields)
  for group in ('data', 'train'):
    config[group] = tiny[group]
  config.model.d_features = tiny.model.d_features
  config.model.g_features = student_features
  config.distill.teacher_workdir = teacher_workdir
  config_lib.validate(config)
  return config


def fixed_batch(config, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1, 1, (1, config.train.batch_size, 28, 28, 1)).astype(np.float32)
  labels = rng.integers(0, 10, (1, config.train.batch_size)).astype(np.int32)
  return {'image': jnp.asarray(images), 'label': jnp.asarray(labels)}


# -- the efficiency evaluator ----------------------------------------------------------------

def test_efficiency_counts_the_params_and_macs_of_dcgan_by_hand():
  """configs/dcgan.py's generator at 28x28 (ngf 64): z(100) -> 7x7x128 -> 14x14x64 -> 28x28x1."""
  config = dcgan_config.get_config()
  trainer = make_trainer(config, DIGITS)
  from jaxgan.trainers.adversarial import GANState
  from jaxgan.trainers.players import Player
  variables = jax.jit(lambda key: trainer.generator.init(key, jnp.zeros((2, 100)), train=False))(
      jax.random.PRNGKey(0))
  # Only the generator is read: no discriminator, no optimizer states.
  state = GANState(jnp.zeros((), jnp.int32), Player(variables['params'], variables['batch_stats'], {}),
                   None)
  params = 100 * 7 * 7 * 128 + 2 * 128 + 4 * 4 * 128 * 64 + 2 * 64 + 4 * 4 * 64 * 1
  # A transposed 4x4 stride-2 conv: every output pixel takes 2x2 taps of each input channel.
  macs = (100 * 7 * 7 * 128                   # project: a linear map to 7x7x128
          + 14 * 14 * 64 * (2 * 2 * 128)       # up_0
          + 28 * 28 * 1 * (2 * 2 * 64))        # up_1
  results = Efficiency(config, None, trainer.functions(), None, latency_batch_sizes=())(state)
  assert results['params'] == params
  # Float32 weights, plus the BatchNorm statistics (2 x (128 + 64)) and msgpack's framing.
  assert 4 * (params + 2 * 192) <= results['generator_bytes'] <= 4 * (params + 2 * 192) + 2000
  # XLA's count of the sampling program also holds the elementwise ops (BatchNorm, ReLU, tanh,
  # the noise draw) at one flop each: within 2% of the multiply-adds here.
  assert macs <= results['macs_per_image'] <= 1.02 * macs, (results['macs_per_image'], macs)
  assert results['flops_per_image'] == 2 * results['macs_per_image']


def test_efficiency_needs_a_generator():
  config = dcgan_config.get_config()
  with pytest.raises(ConfigError, match='no sample or generator_variables function'):
    Efficiency(config, None, {}, None)


# -- distillation ----------------------------------------------------------------------------

def test_distillation_lowers_the_reconstruction_error_and_keeps_the_teacher_frozen(
    data_dir, teacher_workdir):
  config = tiny_distill(data_dir, teacher_workdir)
  config.distill.init_discriminator = True   # D from the teacher run (the default is a fresh D)
  trainer = make_trainer(config, DIGITS)
  batch = fixed_batch(config)
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0), batch)
  teacher = trainer.teacher().state.g
  for got, want in zip(jax.tree.leaves(state.d.params), jax.tree.leaves(trainer.teacher().state.d.params)):
    np.testing.assert_array_equal(np.asarray(got), want)   # D starts from the teacher run's
  step = jax.jit(trainer.make_step())
  error = jax.jit(lambda state: trainer.reconstruction_error(state, jax.random.PRNGKey(5), 16))
  errors = [float(error(state))]
  key = jax.random.PRNGKey(3)
  for _ in range(3):   # the same batch and latents each step
    state, metrics = step(state, batch, key)
    errors.append(float(error(state)))
  assert errors[1] < errors[0] and errors[-1] < errors[1], errors
  assert set(metrics) >= {'d_loss', 'g_loss', 'reconstruction_loss', 'feature_loss'}
  # The teacher in the state is the teacher run's generator, bit for bit, after training.
  for got, want in zip(jax.tree.leaves((state.teacher.params, state.teacher.batch_stats)),
                       jax.tree.leaves((teacher.params, teacher.batch_stats))):
    np.testing.assert_array_equal(np.asarray(got), want)
  # The student is this config's width (4), the teacher's 8.
  assert state.g.params['up_0']['kernel'].shape == (4, 4, 8, 4)
  assert state.teacher.params['up_0']['kernel'].shape == (4, 4, 16, 8)


def test_distillation_run_resumes_exactly(data_dir, teacher_workdir, tmp_path):
  config = tiny_distill(data_dir, teacher_workdir, num_steps=4, checkpoint_every_steps=2,
                        sample_every_steps=4, log_every_steps=2)
  arrays = assert_resume_is_exact(config, tmp_path, first_steps=2)
  assert any('teacher' in k for k in arrays)
  records = [json.loads(line) for line in open(tmp_path / 'whole' / 'metrics.jsonl')]
  assert 'reconstruction_loss' in records[-1]


def test_distillation_says_in_one_line_what_is_wrong_with_the_teacher(data_dir, tmp_path):
  config = tiny_distill(data_dir, '')
  with pytest.raises(ConfigError, match='distill.teacher_workdir is not set'):
    make_trainer(config, DIGITS)
  config.distill.teacher_workdir = str(tmp_path / 'nowhere')
  with pytest.raises(ConfigError, match='does not exist; train one first'):
    make_trainer(config, DIGITS)
  vae_run = tmp_path / 'vae_run'
  vae_run.mkdir()
  vae = config_lib.load_config_file(os.path.join(ROOT, 'configs', 'vae.py'))
  (vae_run / 'config.json').write_text(json.dumps(vae.to_dict()))
  config.distill.teacher_workdir = str(vae_run)
  with pytest.raises(ConfigError, match="is a 'vae' run .* it must be a DCGAN run") as error:
    make_trainer(config, DIGITS)
  assert '\n' not in str(error.value)


# -- channel pruning -------------------------------------------------------------------------

def tiny_prune(data_dir, source_workdir, width=4, **train_fields):
  config = config_lib.load_config_file(os.path.join(ROOT, 'configs', 'prune_dcgan.py'))
  tiny = tiny_dcgan(data_dir, **train_fields)
  for group in ('data', 'train', 'model'):
    config[group] = tiny[group]
  config.prune.source_workdir = source_workdir
  config.prune.g_features = width
  config_lib.validate(config)
  return config


def test_a_pruned_generator_with_masks_equals_its_exported_dense_form(data_dir, teacher_workdir):
  from jaxgan.architectures.dcgan import DCGANGenerator
  from jaxgan.trainers.players import apply_net
  config = tiny_prune(data_dir, teacher_workdir, width=4)
  trainer = make_trainer(config, DIGITS)
  batch = fixed_batch(config)
  state = jax.jit(trainer.init)(jax.random.PRNGKey(0), batch)
  step = jax.jit(trainer.make_step())
  for i in range(2):   # fine-tuning moves the kept weights; the pruned ones stay zero
    state, _ = step(state, batch, jax.random.PRNGKey(i))
  masks = {k: np.asarray(v) for k, v in state.masks.items()}
  assert {k: int(v.sum()) for k, v in masks.items()} == {'project': 8, 'up_0': 4}   # of 16, 8
  kernel = np.asarray(state.g.params['project']['kernel'])
  assert np.all(kernel[..., masks['project'] == 0] == 0)
  assert np.any(kernel[..., masks['project'] == 1] != np.asarray(
      trainer.source.state.g.params['project']['kernel'])[..., masks['project'] == 1])
  params, stats = trainer.dense(state)
  assert params['up_0']['kernel'].shape == (4, 4, 8, 4) and params['up_1']['kernel'].shape == (4, 4, 4, 1)
  dense = DCGANGenerator((28, 28, 1), features=4)
  z = jax.random.normal(jax.random.PRNGKey(9), (16, config.model.latent_dim))
  for train_mode in (True, False):   # batch statistics, then the running averages
    masked, _ = apply_net(trainer.generator, state.g.params, state.g.batch_stats, z,
                          train=train_mode, update_stats=False)
    exported, _ = apply_net(dense, params, stats, z, train=train_mode, update_stats=False)
    # Equal up to float summation order (the masked sums add exact zeros).
    np.testing.assert_allclose(np.asarray(masked), np.asarray(exported), atol=1e-6, rtol=0)


# -- int8 quantization and the compress command ----------------------------------------------

def _conv_operand_dtypes(fn, *args):
  """The operand dtypes of every convolution `fn` runs, from its jaxpr."""
  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'conv_general_dilated':
        found.append(tuple(str(v.aval.dtype) for v in eqn.invars))
      for sub in jax.core.jaxprs_in_params(eqn.params):
        walk(sub)
  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


def test_int8_generator_is_close_to_the_float_one(data_dir, teacher_workdir, tmp_path):
  """Tolerances, on the tanh outputs in [-1, 1] of the tiny DCGAN trained for 12 steps (width
  8; mean |output| about 0.05), 16 samples: int8 weights, mean |int8 - float| < 0.002 and max
  < 0.02; int8 weights and activations, mean < 0.004 and max < 0.03 (measured: 0.0008 / 0.005
  and 0.0013 / 0.007; one int8 step of an activation is its layer's largest value / 127)."""
  from jaxgan.compress import compress
  from jaxgan.evaluate import load_run_config, restore_trained_state
  float_run, float_state, step = restore_trained_state(load_run_config(teacher_workdir),
                                                       teacher_workdir)
  key = jax.random.PRNGKey(11)
  want = np.asarray(jax.jit(lambda s: float_run.trainer.sample(s, key, 16))(float_state))
  for method, mean_tol, max_tol in (('int8_weights', 0.002, 0.02), ('int8', 0.004, 0.03)):
    out = str(tmp_path / method)
    compress(teacher_workdir, out, method, calibration_batches=2)
    run, state, int8_step = restore_trained_state(load_run_config(out), out)
    assert int8_step == step and run.config.trainer == 'quantized'
    assert state.params['up_0']['kernel']['qvalue'].dtype == jnp.int8
    got = np.asarray(jax.jit(lambda s: run.trainer.sample(s, key, 16))(state))
    error = np.abs(got - want)
    assert error.mean() < mean_tol and error.max() < max_tol, (method, error.mean(), error.max())
    assert 0 < error.mean()   # it really is quantized
    convs = _conv_operand_dtypes(lambda s: run.trainer.sample(s, key, 16), state)
    int8_convs = [c for c in convs if c == ('int8', 'int8')]
    assert len(int8_convs) == (2 if method == 'int8' else 0), convs


def test_compress_writes_runs_that_evaluate_scores(data_dir, teacher_workdir, tmp_path):
  from jaxgan.compress import main
  from jaxgan.evaluate import evaluate_run
  pruned = str(tmp_path / 'pruned')
  train.run(tiny_prune(data_dir, teacher_workdir, width=4, num_steps=2, checkpoint_every_steps=2,
                       sample_every_steps=2), pruned)
  dense = str(tmp_path / 'dense')
  assert main([f'--workdir={pruned}', f'--out={dense}', '--method=dense']) == 0
  assert main([f'--workdir={pruned}', f'--out={dense}', '--method=dense']) == 2   # never over a run
  int8 = str(tmp_path / 'int8')
  assert main([f'--workdir={dense}', f'--out={int8}', '--method=int8', '--calibration_batches=1']) == 0
  efficiency = ["eval.metrics=('efficiency',)"]
  scores = {}
  for name, workdir in (('dense', dense), ('int8', int8)):
    step, scores[name], _, info = evaluate_run(workdir, efficiency)
    assert step == 2 and info['efficiency_latency_batches'] == [1, 64]
  # A DCGAN generator of width 4 (the teacher's is 8): 8 then 4 hidden channels.
  assert scores['dense']['params'] == 100 * 49 * 8 + 2 * 8 + 16 * 8 * 4 + 2 * 4 + 16 * 4 * 1
  macs = 100 * 49 * 8 + 14 * 14 * 4 * (4 * 8) + 28 * 28 * 1 * (4 * 4)
  # At this width the elementwise ops (BatchNorm, ReLU, tanh) add about 12% to the convolutions.
  assert macs <= scores['dense']['macs_per_image'] <= 1.2 * macs
  assert scores['int8']['latency_ms_b1'] > 0 and scores['int8']['latency_ms_b64'] > 0
  # int8 kernels: a quarter of the bytes, plus one float scale per output channel.
  assert scores['int8']['generator_bytes'] < 0.4 * scores['dense']['generator_bytes']
