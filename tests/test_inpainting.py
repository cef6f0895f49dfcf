"""Inpainting (DeepFill v2 on the shared loop): the evaluator's scores against hand values,
masks drawn per sample and per step inside the compiled step, a run that resumes bit-exact
with the spectral norm's vectors in its state, the evaluator's baselines, the inpaint command
(unmasked pixels unchanged byte for byte) and one-line errors for bad input."""
import json
import os

import jax
import numpy as np
import pytest

from configs import inpainting as inpainting_config
from configs import inpainting_prefilled
from jaxgan import train
from jaxgan.data.images import DatasetInfo
from jaxgan.metrics.inpainting import inpainting_scores, mean_fill
from jaxgan.trainers import make_trainer
from jaxgan.trainers.inpainting import augment_images, hole_minus_psnr
from tests.conftest import launch, read_checkpoint


@pytest.fixture(scope='module')
def picture_dir(tmp_path_factory):
  """A TFDS data dir with offline_picture_crops, built once per module (worker)."""
  path = str(tmp_path_factory.mktemp('tensorflow_datasets'))
  from jaxgan.data.images import _prepare
  _prepare('offline_picture_crops', path, False)
  return path


def tiny(data_dir='', **fields):
  config = inpainting_config.get_config()
  config.data.data_dir = data_dir
  config.data.image_size = 32
  config.model.channels = 8
  config.model.d_features = 8
  config.model.d_layers = 3
  config.train.batch_size = 4
  config.train.num_steps = 4
  config.train.log_every_steps = 2
  config.train.sample_every_steps = 4
  config.train.checkpoint_every_steps = 2
  config.train.progress_bar = 'no'
  config.eval.max_real_samples = 6
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  return config


INFO = DatasetInfo('test', (32, 32, 3), 0, 100)


def test_scores_equal_hand_values_inside_and_outside_the_hole():
  target = np.zeros((2, 8, 8, 3), np.float32)            # grey 0.5 in [0, 1]
  masks = np.zeros((2, 8, 8, 1), np.float32)
  masks[:, :4] = 1.0                                       # the top half is the hole
  output = target.copy()
  output[:, :4] = 1.0                                      # white in the hole: off by 0.5
  scores = inpainting_scores(output, target, masks)
  assert scores['hole_fraction'] == pytest.approx(0.5)
  assert scores['l1_hole'] == pytest.approx(0.5) and scores['l1'] == pytest.approx(0.25)
  assert scores['l2_hole'] == pytest.approx(0.25) and scores['l2'] == pytest.approx(0.125)
  assert scores['psnr_hole'] == pytest.approx(10 * np.log10(4.0))
  assert scores['psnr'] == pytest.approx(10 * np.log10(8.0))
  # Perfect inside the hole: PSNR capped at 100 dB, SSIM 1; total variation of a flat image 0.
  perfect = inpainting_scores(target, target, masks)
  assert perfect['psnr_hole'] == 100.0 and perfect['ssim_hole'] == pytest.approx(1.0)
  assert perfect['tv'] == 0.0 and scores['tv'] > 0.0
  # Mean fill: the hole takes the known pixels' mean colour, the known pixels stay.
  images = np.concatenate([np.full((1, 8, 8, 3), -1.0), np.full((1, 8, 8, 3), 0.5)]).astype(np.float32)
  images[:, 4:, :, 0] = 1.0
  filled = mean_fill(images, masks)
  assert np.allclose(filled[:, 4:], images[:, 4:])
  assert np.allclose(filled[:, :4, :, 0], 1.0) and np.allclose(filled[0, :4, :, 1], -1.0)


def test_the_psnr_loss_is_the_evaluators_hole_psnr_with_its_floor():
  rng = np.random.default_rng(3)
  images = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
  noise = rng.normal(0, [[[[0.01]]], [[[0.1]]], [[[0.5]]]], images.shape)
  outputs = np.clip(images + noise, -1, 1).astype(np.float32)   # the evaluator clips
  masks = np.zeros((3, 8, 8, 1), np.float32)
  masks[:, 2:6, 1:7] = 1.0
  hole_mse = [10 ** (-inpainting_scores(o[None], i[None], m[None])['psnr_hole'] / 10)
              for o, i, m in zip(outputs, images, masks)]
  for floor in (1e-3, 1e-10):
    expected = np.mean([10 * np.log10(mse + floor) for mse in hole_mse])
    assert float(hole_minus_psnr(images, outputs, masks, floor)) == pytest.approx(expected, rel=1e-5)


def test_augmented_images_are_symmetries_of_their_originals_each_its_own():
  images = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (16, 8, 8, 3)))
  out = np.asarray(jax.jit(augment_images)(jax.random.PRNGKey(1), images))

  def transforms(image):   # the 8 symmetries of the square, each with the 6 channel orders
    for k in range(4):
      for flipped in (image, image[:, ::-1]):
        for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
          yield np.rot90(flipped, k)[..., order]

  which = []
  for original, augmented in zip(images, out):
    matches = [i for i, t in enumerate(transforms(original)) if np.array_equal(t, augmented)]
    assert len(matches) == 1
    which.append(matches[0])
  assert len(set(which)) > 4   # per image, not one draw for the batch
  np.testing.assert_array_equal(out, np.asarray(augment_images(jax.random.PRNGKey(1), images)))


def test_masks_are_drawn_per_sample_and_per_step_inside_the_step():
  trainer = make_trainer(tiny(), INFO)
  masks = np.asarray(jax.jit(trainer.masks, static_argnums=1)(jax.random.PRNGKey(0), 4))
  assert masks.shape == (4, 32, 32, 1) and set(np.unique(masks)) <= {0.0, 1.0}
  assert all(not np.array_equal(masks[0], m) for m in masks[1:])
  again = np.asarray(trainer.masks(jax.random.PRNGKey(0), 4))
  other = np.asarray(trainer.masks(jax.random.PRNGKey(1), 4))
  assert np.array_equal(masks, again) and not np.array_equal(masks, other)


def test_run_resumes_bit_exact_with_the_spectral_norm_vectors(picture_dir, tmp_path):
  config = tiny(picture_dir)
  train.run(config, str(tmp_path / 'straight'))
  config.train.num_steps = 2
  train.run(config, str(tmp_path / 'resumed'))
  config.train.num_steps = 4
  train.run(config, str(tmp_path / 'resumed'))
  want = read_checkpoint(str(tmp_path / 'straight' / 'checkpoints'), 4)
  got = read_checkpoint(str(tmp_path / 'resumed' / 'checkpoints'), 4)
  assert want.keys() == got.keys()
  for name in want:
    assert np.array_equal(want[name], got[name]), name
  vectors = [k for k in want if 'batch_stats' in k and k.endswith("/u']")]
  assert len(vectors) == 3, [k for k in want if 'batch_stats' in k]   # one per SN conv
  initial = read_checkpoint(str(tmp_path / 'straight' / 'checkpoints'), 2)
  assert not np.array_equal(initial[vectors[0]], want[vectors[0]])   # the power iteration runs
  records = [json.loads(line) for line in open(tmp_path / 'straight' / 'metrics.jsonl')]
  assert {'d_loss', 'g_l1', 'g_gan', 'hole_fraction'} <= set(records[-1])
  from PIL import Image
  grid = np.asarray(Image.open(tmp_path / 'straight' / 'samples' / 'step_4.png'))
  assert grid.shape[0] > grid.shape[1]    # 8 rows of (input | coarse | output | original)


def test_evaluation_scores_the_run_next_to_mean_fill_and_biharmonic(picture_dir, tmp_path):
  from jaxgan.evaluate import evaluate_run
  config = tiny(picture_dir, **{'train.num_steps': 2, 'train.checkpoint_every_steps': 2,
                                'train.sample_every_steps': 2})
  train.run(config, str(tmp_path / 'run'))
  step, metrics, references, info = evaluate_run(str(tmp_path / 'run'), config=config)
  assert step == 2 and info['inpainting_examples'] == 6
  for name in ('l1', 'l2', 'psnr', 'ssim', 'l1_hole', 'psnr_hole', 'ssim_hole', 'tv'):
    assert np.isfinite(metrics[name]), name
  assert set(references) == {'mean_fill', 'biharmonic', 'biharmonic_in_graph', 'original'}
  # The same fixed holes for every point; the smooth biharmonic fills beat a flat colour, and
  # the compiled solve lands near scikit-image's exact one.
  assert references['biharmonic']['hole_fraction'] == metrics['hole_fraction'] > 0
  for smooth in ('biharmonic', 'biharmonic_in_graph'):
    assert references[smooth]['psnr_hole'] > references['mean_fill']['psnr_hole']
    assert references[smooth]['l1_hole'] < references['mean_fill']['l1_hole']
  assert references['biharmonic_in_graph']['psnr_hole'] == pytest.approx(
      references['biharmonic']['psnr_hole'], abs=1.0)
  # Known pixels are kept, so the whole-image error is the hole's, diluted.
  assert metrics['l1'] == pytest.approx(metrics['l1_hole'] * metrics['hole_fraction'], rel=0.35)


def test_the_inpaint_command_leaves_unmasked_pixels_unchanged(picture_dir, tmp_path, capsys):
  from PIL import Image

  from jaxgan import inpaint
  workdir = tmp_path / 'run'
  train.run(tiny(picture_dir, **{'train.num_steps': 1, 'train.checkpoint_every_steps': 1,
                                 'train.sample_every_steps': 1}), str(workdir))
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)   # not the training size
  mask = np.zeros((40, 48), np.uint8)
  mask[10:25, 8:30] = 255
  Image.fromarray(image).save(tmp_path / 'in.png')
  Image.fromarray(mask).save(tmp_path / 'mask.png')
  out = tmp_path / 'out.png'
  assert inpaint.main([f'--workdir={workdir}', f'--image={tmp_path / "in.png"}',
                       f'--mask={tmp_path / "mask.png"}', f'--output={out}']) == 0
  result = np.asarray(Image.open(out))
  assert result.shape == image.shape
  assert np.array_equal(result[mask == 0], image[mask == 0])
  assert not np.array_equal(result[mask > 0], image[mask > 0])
  # A folder with one mask for all; without a mask, one is drawn and written beside.
  folder = tmp_path / 'images'
  os.makedirs(folder)
  for name in ('a', 'b'):
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f'{name}.png')
  assert inpaint.main([f'--workdir={workdir}', f'--image={folder}',
                       f'--mask={tmp_path / "mask.png"}', f'--output={tmp_path / "filled"}']) == 0
  assert sorted(os.listdir(tmp_path / 'filled')) == ['a.png', 'b.png']
  assert inpaint.main([f'--workdir={workdir}', f'--image={folder}',
                       f'--output={tmp_path / "drawn"}']) == 0
  assert sorted(os.listdir(tmp_path / 'drawn')) == ['a.png', 'a_mask.png', 'b.png', 'b_mask.png']
  capsys.readouterr()
  Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / 'small_mask.png')
  assert inpaint.main([f'--workdir={workdir}', f'--image={tmp_path / "in.png"}',
                       f'--mask={tmp_path / "small_mask.png"}', f'--output={out}']) == 2
  Image.fromarray(image[:36]).save(tmp_path / 'odd.png')
  assert inpaint.main([f'--workdir={workdir}', f'--image={tmp_path / "odd.png"}',
                       f'--output={out}']) == 2
  errors = capsys.readouterr().err.strip().splitlines()
  assert len(errors) == 2 and '32x32' in errors[0] and 'multiples of 8' in errors[1], errors


def test_bad_inpainting_configs_are_one_line_errors(picture_dir, tmp_path):
  for args, message in (
      (['--config.model.channels=10'], 'model.channels must be a multiple of 4'),
      (['--config.data.mask=circle'], 'data.mask must be one of'),
      (['--config.data.image_size=36'], 'multiples of 8'),
      (['--config.model.contextual_attention=1'], 'model.contextual_attention must be'),
      (['--config.model.prefill=telea'], 'model.prefill must be one of'),
      (['--config.inpainting.augment=1'], 'inpainting.augment must be'),
      (['--config.model.contrast_normalise=True'], 'set model.prefill')):
    result = launch(['--config=configs/inpainting.py', f'--workdir={tmp_path / "x"}',
                     f'--config.data.data_dir={picture_dir}', '--config.train.progress_bar=no']
                    + args)
    assert result.returncode == 2, result.stderr[-1500:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_the_prefilled_recipe_trains_and_leaves_the_known_pixels_alone():
  config = tiny(**{'model.prefill': 'biharmonic', 'model.contrast_normalise': True,
                   'inpainting.augment': True, 'inpainting.hole_psnr_weight': 1.0,
                   'inpainting.hole_psnr_floor': 1e-4, 'inpainting.gan_weight': 0.1})
  trainer = make_trainer(config, INFO)
  images = jax.random.uniform(jax.random.PRNGKey(0), (1, 4, 32, 32, 3), minval=-1, maxval=1)
  state = trainer.init(jax.random.PRNGKey(1), {'image': images})
  step = jax.jit(trainer.make_step())
  for i in range(3):
    state, metrics = step(state, {'image': images}, jax.random.PRNGKey(10 + i))
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  masks = trainer.masks(jax.random.PRNGKey(5), 4)
  completed = np.asarray(jax.jit(trainer.inpaint)(state, images[0], masks))
  known = np.broadcast_to(np.asarray(masks) == 0, completed.shape)
  np.testing.assert_array_equal(completed[known], np.asarray(images[0])[known])
  untrained = trainer.init(jax.random.PRNGKey(1), {'image': images})
  start = np.asarray(jax.jit(trainer.inpaint)(untrained, images[0], masks))
  assert np.abs(completed - start)[~known].max() > 1e-4   # the correction moved


def test_the_recipe_config_is_the_benchmarks_row():
  from benchmarks import inpainting as bench
  from jaxgan import config as config_lib
  config = inpainting_config.get_config()
  config_lib.apply_overrides(config, list(bench.MODELS['inpainting_biharmonic'])
                             + ['train.num_steps=1200'])
  assert config.to_dict() == inpainting_prefilled.get_config().to_dict()
