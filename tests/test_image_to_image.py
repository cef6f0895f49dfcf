"""Image-to-image translation (CycleGAN, pix2pix): the image pool, the cycle and identity
terms, the decay schedule, the nets' layers against PyTorch, the data source's crops and
flips, runs that resume bit-exact, and the translate command on a folder."""
import json
import os
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import cyclegan as cyclegan_config
from configs import pix2pix as pix2pix_config
from jaxgan import optimizers, train
from jaxgan.architectures import image_to_image as nets
from jaxgan.data.translation import TranslationBatches, TranslationInfo
from jaxgan.trainers import make_trainer
from jaxgan.trainers.image_to_image import empty_pool, query_pool
from tests.conftest import ROOT, launch, read_checkpoint


def tiny(config, data_dir, **fields):
  config.data.data_dir = data_dir
  config.model.g_features = 4
  config.model.d_features = 4
  config.model.resnet_blocks = 1
  config.model.d_layers = 1
  config.train.batch_size = 2
  config.train.num_steps = 4
  config.train.log_every_steps = 2
  config.train.sample_every_steps = 4
  config.train.checkpoint_every_steps = 2
  config.train.progress_bar = 'no'
  config.eval.max_real_samples = 20
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  return config


def tiny_cyclegan(data_dir='', **fields):
  return tiny(cyclegan_config.get_config(), data_dir, **{'cycle.pool_size': 3, **fields})


# -- the image pool ----------------------------------------------------------------------------

def _images(values):
  return jnp.asarray(values, jnp.float32).reshape(-1, 1, 1, 1)


def test_pool_passes_every_fake_on_until_full_then_returns_stored_ones_half_the_time():
  size = 4
  pool = empty_pool(size, (1, 1, 1))
  query = jax.jit(query_pool)
  # Not yet full: every fake is stored and passed on as it is, even within one batch.
  shown, pool = query(pool, _images([1, 2, 3]), jax.random.PRNGKey(0))
  assert np.array_equal(np.asarray(shown).ravel(), [1, 2, 3]) and int(pool.count) == 3
  shown, pool = query(pool, _images([4, 5]), jax.random.PRNGKey(1))   # fills up on the 4
  assert float(shown[0, 0, 0, 0]) == 4 and int(pool.count) == size
  assert sorted(np.asarray(pool.images).ravel()[:3]) == [1, 2, 3]
  # Full: each fake comes back with probability 1/2, else a stored image (which it replaces).
  fresh_values = 100 + np.arange(4000)
  returned_stored = 0
  for i in range(0, len(fresh_values), 200):
    before = set(np.asarray(pool.images).ravel().tolist())
    batch = fresh_values[i:i + 200]
    shown, pool = query(pool, _images(batch), jax.random.PRNGKey(10 + i))
    shown = np.asarray(shown).ravel()
    swapped = shown != batch
    # What comes back instead is an image the pool held (before or earlier in this batch).
    assert set(shown[swapped].tolist()) <= before | set(batch.tolist())
    returned_stored += int(swapped.sum())
  assert int(pool.count) == size
  fraction = returned_stored / len(fresh_values)
  assert abs(fraction - 0.5) < 0.03, fraction   # 4000 draws: sd 0.008
  # A pool of size 0 passes everything through.
  shown, _ = query_pool(empty_pool(0, (1, 1, 1)), _images([7, 8]), jax.random.PRNGKey(0))
  assert np.array_equal(np.asarray(shown).ravel(), [7, 8])


def test_a_pool_that_is_never_full_never_returns_a_stored_image():
  pool = empty_pool(50, (1, 1, 1))
  query = jax.jit(query_pool)
  for i in range(12):   # 48 fakes, pool of 50
    batch = _images(4 * i + np.arange(4))
    shown, pool = query(pool, batch, jax.random.PRNGKey(i))
    assert np.array_equal(np.asarray(shown), np.asarray(batch))
  assert int(pool.count) == 48


# -- terms and schedule -------------------------------------------------------------------------

INFO = TranslationInfo('test', (32, 32, 1), (32, 32, 1), 10, 8, 8, False)


def test_cycle_and_identity_terms_equal_hand_values():
  config = tiny_cyclegan()
  trainer = make_trainer(config, INFO)
  real_a = jnp.zeros((2, 4, 4, 1))
  real_b = jnp.ones((2, 4, 4, 1))
  rec_a = real_a.at[0].set(0.5)                 # |rec_a - a| = 0.25 on average
  rec_b = real_b - 0.1                          # 0.1 everywhere
  terms = trainer.cycle_terms(real_a, real_b, rec_a, rec_b)
  assert float(terms['cycle_a']) == pytest.approx(10 * 0.25)
  assert float(terms['cycle_b']) == pytest.approx(10 * 0.1)
  same_a, same_b = real_a + 0.2, real_b.at[:, :2].set(0.0)   # 0.2; half the pixels off by 1
  terms = trainer.identity_terms(real_a, real_b, same_a, same_b)
  assert float(terms['identity_a']) == pytest.approx(0.5 * 10 * 0.2)
  assert float(terms['identity_b']) == pytest.approx(0.5 * 10 * 0.5)
  # The weights come from the config.
  config.cycle.weight_a, config.cycle.identity = 3.0, 0.1
  trainer = make_trainer(config, INFO)
  assert float(trainer.identity_terms(real_a, real_b, same_a, same_b)['identity_a']) == \
      pytest.approx(0.1 * 3.0 * 0.2)


def test_the_learning_rate_is_constant_then_decays_linearly_to_zero():
  config = tiny_cyclegan()
  total = 200
  half = optimizers.SCHEDULES.get('linear_decay_second_half')(config.optim, 2e-4, total)
  for step, want in ((0, 2e-4), (99, 2e-4), (100, 2e-4), (150, 1e-4), (190, 2e-5), (200, 0.0)):
    assert float(half(step)) == pytest.approx(want, rel=1e-6, abs=1e-12), step
  config.optim.decay_start_step = 50
  decay = optimizers.SCHEDULES.get('linear_decay')(config.optim, 2e-4, total)
  for step, want in ((49, 2e-4), (50, 2e-4), (125, 1e-4), (200, 0.0)):
    assert float(decay(step)) == pytest.approx(want, rel=1e-6, abs=1e-12), step


# -- layers against PyTorch -----------------------------------------------------------------------

def test_instance_norm_reflection_padding_and_the_3x3_upsampling_match_pytorch():
  torch = pytest.importorskip('torch')
  x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype(np.float32) * 3 + 1
  xt = torch.from_numpy(x.transpose(0, 3, 1, 2))
  want = torch.nn.InstanceNorm2d(3, affine=False, track_running_stats=False)(xt)
  np.testing.assert_allclose(np.asarray(nets.instance_norm(jnp.asarray(x))),
                             want.numpy().transpose(0, 2, 3, 1), atol=1e-5)
  want = torch.nn.ReflectionPad2d(3)(xt).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_array_equal(np.asarray(nets.reflect_pad(jnp.asarray(x), 3)), want)
  up = torch.nn.ConvTranspose2d(3, 4, kernel_size=3, stride=2, padding=1, output_padding=1,
                                bias=False)
  kernel = up.weight.detach().numpy().transpose(2, 3, 0, 1)    # [in, out, kh, kw] -> HWIO
  got = nets.upsample2x_3x3(jnp.asarray(x), jnp.asarray(kernel))
  np.testing.assert_allclose(np.asarray(got), up(xt).detach().numpy().transpose(0, 2, 3, 1),
                             atol=1e-5)


# -- data -----------------------------------------------------------------------------------------

def test_pairs_share_their_crop_and_flip_and_unpaired_domains_do_not():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(6, 12, 12, 1), dtype=np.uint8)
  mesh = __import__('jaxgan.parallel', fromlist=['make_mesh']).make_mesh()
  train_arrays = {'a': images, 'b': images}
  paired = TranslationBatches(train_arrays, True, 3, 0, mesh, crop=8, flip=True)
  batch = jax.jit(lambda d, t: paired.batch_at(d, 0, t, 2))(paired.device_data, 5)
  assert batch['a'].shape == (2, 3, 8, 8, 1)
  np.testing.assert_array_equal(np.asarray(batch['a']), np.asarray(batch['b']))
  unpaired = TranslationBatches(train_arrays, False, 3, 0, mesh, crop=8, flip=True)
  batch = unpaired.batch_at(unpaired.device_data, 0, 5, 1, batch_size=2)   # a phase's size
  assert batch['a'].shape == (1, 2, 8, 8, 1)
  assert not np.array_equal(np.asarray(batch['a']), np.asarray(batch['b']))
  # Every crop is a window of some stored image, mirrored or not.
  full = images.astype(np.float32) / 127.5 - 1.0
  for crop in np.asarray(batch['a'][0]):
    windows = [im[t:t + 8, l:l + 8] for im in full for t in range(5) for l in range(5)]
    windows += [w[:, ::-1] for w in windows]
    assert any(np.allclose(crop, w, atol=1e-6) for w in windows)
  # Deterministic in the batch index: the same batch again.
  again = unpaired.batch_at(unpaired.device_data, 0, 5, 1, batch_size=2)
  np.testing.assert_array_equal(np.asarray(batch['a']), np.asarray(again['a']))


def test_edge_crops_hold_out_a_band_of_every_picture_and_edges_are_black_on_white():
  from jaxgan.data import offline_translation
  width = 300
  columns = np.arange(width)
  picture = np.zeros((100, width, 3), np.uint8)        # each pixel names its column
  picture[..., 0], picture[..., 1] = columns % 256, columns // 256
  crop = offline_translation.CROP

  def crop_columns(crops):
    return crops[..., 0].astype(int) + 256 * crops[..., 1].astype(int)
  train_cols = crop_columns(offline_translation.random_crops([picture], 40, False, 0))
  test_cols = crop_columns(offline_translation.random_crops([picture], 40, True, 1))
  band_start = width - max(crop, round(width * offline_translation.TEST_BAND))
  assert train_cols.max() < band_start <= test_cols.min()
  square = np.zeros((crop, crop, 3), np.uint8)
  square[16:48, 16:48] = 255
  edges = offline_translation.edges_of(square)
  assert edges.shape == (crop, crop, 1) and set(np.unique(edges)) == {0, 255}
  assert edges[0, 0, 0] == 255 and edges[32, 32, 0] == 255 and (edges == 0).sum() > 60


def _write_pairs(folder, n, size=32):
  """A pix2pix folder: FOLDER/train and FOLDER/test of side-by-side A|B pairs (B = A inverted)."""
  from PIL import Image
  rng = np.random.default_rng(1)
  for split, count in (('train', n), ('test', 4)):
    os.makedirs(folder / split, exist_ok=True)
    for i in range(count):
      a = (rng.random((size, size, 3)) > 0.5).astype(np.uint8) * 255
      Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / split / f'{i}.png')


# -- runs -----------------------------------------------------------------------------------------

def test_cyclegan_run_resumes_bit_exact_with_its_image_pools(data_dir, tmp_path):
  config = tiny_cyclegan(data_dir)
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
  pool = [k for k in want if 'pool_b' in k and 'count' in k]
  assert pool and int(want[pool[0]]) == 3          # 4 steps x 2 fakes, pool of 3: full
  samples = sorted(os.listdir(tmp_path / 'straight' / 'samples'))
  assert samples == ['b_to_a_step_4.png', 'step_4.png'], samples
  from PIL import Image
  grid = np.asarray(Image.open(tmp_path / 'straight' / 'samples' / 'step_4.png'))
  assert grid.shape[1] < grid.shape[0]                # rows of (input | translation | cycle)


def test_pix2pix_on_a_folder_of_pairs_then_translate_a_folder(tmp_path, capsys):
  folder = tmp_path / 'pairs'
  _write_pairs(folder, 6)
  workdir = tmp_path / 'run'
  config = tiny(pix2pix_config.get_config(), '', **{'train.num_steps': 3,
                                                      'train.log_every_steps': 3,
                                                      'train.sample_every_steps': 3,
                                                      'train.checkpoint_every_steps': 3})
  config.data.folder = str(folder)
  config.data.image_size = 0
  config.eval.every_steps = 3
  train.run(config, str(workdir))
  records = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
  scores = [r for r in records if 'ssim' in r]
  assert scores and {'l1', 'psnr', 'ssim'} <= set(scores[-1]) and 0 <= scores[-1]['l1'] <= 1
  assert 'g_l1' in records[0] and os.path.exists(workdir / 'samples' / 'step_3.png')
  # The trained generator on a folder: a 64x64 colour image (not the training size; the U-Net
  # takes multiples of 32) and a grey one (converted to the input's three channels).
  from PIL import Image

  from jaxgan import translate
  inputs = tmp_path / 'inputs'
  os.makedirs(inputs)
  Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(inputs / 'black.png')
  Image.fromarray(np.full((32, 32), 255, np.uint8)).save(inputs / 'white_grey.png')
  out = tmp_path / 'out'
  assert translate.main([f'--workdir={workdir}', f'--input={inputs}', f'--output={out}']) == 0
  assert sorted(os.listdir(out)) == ['black.png', 'white_grey.png']
  assert np.asarray(Image.open(out / 'black.png')).shape == (64, 64, 3)
  assert np.asarray(Image.open(out / 'white_grey.png')).shape == (32, 32, 3)
  capsys.readouterr()
  assert translate.main([f'--workdir={workdir}', f'--input={inputs}', f'--output={out}',
                         '--direction=BtoA']) == 2
  assert translate.main([f'--workdir={workdir}', f'--input={inputs / "white_grey.png"}',
                         f'--output={out}', '--size=48']) == 2
  errors = capsys.readouterr().err.strip().splitlines()
  assert len(errors) == 2 and 'AtoB only' in errors[0] and 'multiples of 32' in errors[1], errors


def test_bad_image_to_image_configs_are_one_line_errors(data_dir, tmp_path):
  folder = tmp_path / 'pairs'
  _write_pairs(folder, 2)
  from jaxgan.data.images import _prepare
  _prepare('offline_thick_digits', data_dir, False)   # built here, not in the subprocess
  for args, message in (
      (['--config=configs/pix2pix.py', '--config.data.name=offline_thick_digits',
        f'--config.data.data_dir={data_dir}'], 'pix2pix trains on pairs'),
      (['--config=configs/cyclegan.py', '--config.model.norm=group'], 'model.norm must be one of'),
      (['--config=configs/cyclegan.py', '--config.objective=hinge'], 'objective must be one of'),
      (['--config=configs/pix2pix.py', f'--config.data.folder={folder}',
        '--config.data.image_size=48'], 'sides are multiples of 32, got 48x48')):
    result = launch(args + [f'--workdir={tmp_path / "x"}', '--config.train.progress_bar=no'])
    assert result.returncode == 2, result.stderr[-1500:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def _fake_cycle_gan(data_dir, monkeypatch):
  """cycle_gan/horse2zebra as TFDS lays it out (splits trainA/trainB/testA/testB, features
  image (PNG) and label), prepared from random 40x40 images: the real builder with its
  download replaced, and PNGs encoded with Pillow (TFDS encodes them with TensorFlow)."""
  import io

  import tensorflow_datasets as tfds
  from PIL import Image

  def png(self, image):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format='PNG')
    return buffer.getvalue()

  rng = np.random.default_rng(0)

  def examples(n, label):
    for i in range(n):
      yield f'{label}_{i}', {'image': rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
                             'label': label}

  builder = tfds.builder('cycle_gan/horse2zebra', data_dir=data_dir, file_format='array_record')
  monkeypatch.setattr(tfds.features.Image, 'encode_example', png)
  monkeypatch.setattr(type(builder), '_split_generators', lambda self, dl_manager: {
      'trainA': examples(6, 0), 'trainB': examples(5, 1), 'testA': examples(3, 0),
      'testB': examples(4, 1)})
  builder.download_and_prepare()


def test_the_cyclegan_config_reads_cycle_gan_horse2zebra_in_the_tfds_layout(tmp_path, monkeypatch):
  data_dir = str(tmp_path / 'tfds')
  _fake_cycle_gan(data_dir, monkeypatch)
  workdir = tmp_path / 'run'
  # What `python launch.py --config=configs/cyclegan.py --config.data.name=... [overrides]`
  # runs, in this process (the CLI's own parsing is tested with the bad configs below).
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, 'configs', 'cyclegan.py'))
  config_lib.apply_overrides(config, [
      'data.name=cycle_gan/horse2zebra', f'data.data_dir={data_dir}', 'data.image_size=36',
      'data.resize=resize', 'data.crop_size=32', 'data.flip=True', 'model.g_features=4',
      'model.d_features=4', 'model.resnet_blocks=1', 'model.d_layers=1', 'train.batch_size=2',
      'train.num_steps=2', 'train.log_every_steps=1', 'train.sample_every_steps=2',
      'train.checkpoint_every_steps=2', 'train.progress_bar=no', 'eval.every_steps=2'])
  train.run(config, str(workdir))
  assert json.load(open(workdir / 'config.json'))['data']['name'] == 'cycle_gan/horse2zebra'
  records = [json.loads(line) for line in open(workdir / 'metrics.jsonl')]
  evals = [r for r in records if 'cycle_error_a' in r]
  assert evals and 0 <= evals[-1]['cycle_error_b'] <= 1 and 'class_kept_b_to_a' not in evals[-1]
