"""offline_picture_crops (jaxgan/data/offline_pictures.py): builds offline through the images
source, has its shapes and split sizes, and its test crops come from pictures no train crop
comes from."""
import numpy as np
import pytest

from jaxgan.data import offline_pictures


@pytest.fixture(scope='module')
def pictures():
  return offline_pictures.load_pictures()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  from configs import common
  from jaxgan.data.images import ImageDataset
  data = common.get_config().data
  data.name = 'offline_picture_crops'
  data.data_dir = str(tmp_path_factory.mktemp('tensorflow_datasets'))
  data.label_key = ''
  return ImageDataset(data)


def test_builds_offline_with_its_shapes_and_split_sizes(dataset):
  assert dataset.info.image_shape == (64, 64, 3) and dataset.info.num_classes == 0
  assert dataset.num_records('train') == 4000 and dataset.num_records('test') == 400
  assert set(dataset.builder.info.splits.keys()) == {'train', 'test'}
  images, _ = dataset.arrays('test')
  assert images.shape == (400, 64, 64, 3) and images.dtype == np.uint8
  assert len({image.tobytes() for image in images}) == 400       # distinct crops
  colour = np.abs(images.astype(int) - images[..., :1]).max(axis=(1, 2, 3)) > 0
  assert colour.any() and not colour.all()             # colour and grey pictures both


def test_splits_hold_out_whole_pictures_one_of_each_kind():
  train, test = set(offline_pictures.TRAIN_PICTURES), set(offline_pictures.TEST_PICTURES)
  assert not train & test
  assert train | test == set(offline_pictures.PICTURES)
  assert len(test) == 4 and set(offline_pictures.SKLEARN_PICTURES) & test
  assert set(offline_pictures.SKLEARN_PICTURES) <= set(offline_pictures.PICTURES)


def test_the_built_crops_come_only_from_their_splits_pictures(dataset, pictures):
  assert set(pictures) == set(offline_pictures.PICTURES)
  for split, names in offline_pictures.SPLIT_PICTURES.items():
    crops, sources = offline_pictures.split_crops(split, pictures)   # offered every picture
    used = {name for name, _, _ in sources}
    assert used == set(names), (split, used)              # drew from all of its own, no other
    for crop, (name, top, left) in zip(crops[:50], sources):
      np.testing.assert_array_equal(crop, pictures[name][top:top + 64, left:left + 64])
    built, _ = dataset.arrays(split)                      # in TFDS's (shuffled) order
    assert sorted(c.tobytes() for c in built) == sorted(c.tobytes() for c in crops), split
  counts = np.bincount([offline_pictures.TEST_PICTURES.index(name) for name, _, _ in
                        offline_pictures.split_crops('test', pictures)[1]])
  assert counts.min() > 60, counts                        # pictures drawn uniformly (~100 each)


def test_split_crops_never_reads_another_splits_pictures(pictures):
  only_test = {name: pictures[name] for name in offline_pictures.TEST_PICTURES}
  crops, _ = offline_pictures.split_crops('test', only_test)
  assert crops.shape == (400, 64, 64, 3)
  with pytest.raises(KeyError):
    offline_pictures.split_crops('train', only_test)
