"""An offline dataset of picture crops for inpainting, built locally as a TFDS dataset
(array_record, Tensor features, no TensorFlow, no download):

  offline_picture_crops  64x64 RGB crops (feature 'image', uint8; no label) of the photographs
                         and textures scikit-image ships (offline_translation.PICTURES; grey
                         ones repeated over three channels) and of scikit-learn's two sample
                         photographs ('china', 'flower'). Splits 'train' (4,000 crops) and
                         'test' (400), each crop from a picture drawn uniformly among its
                         split's, at a uniform position.

Inpainting is judged on how it fills holes in pictures it has never seen, so the test crops
come from held-out pictures, not from held-out parts of the training pictures: one of each
kind, each with a sibling of its kind left in 'train', so that both splits hold the same kinds.

  coffee  a colour photograph (astronaut, chelsea, rocket stay in train)
  gravel  a texture (brick, grass stay)
  camera  a grey photograph (moon, coins, clock stay)
  flower  one of scikit-learn's (china stays)

`SPLIT_PICTURES` names each split's pictures and `split_crops`, which the builder uses, draws
crops only from them. The dataset is a fixed function of its seeds, so every machine builds
the same one.
"""
from typing import Dict, List, Tuple

import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import offline_translation

_CROPS_SEEDS = {'train': 20261216, 'test': 20261217}
CROP = 64
NUM_CROPS = {'train': 4000, 'test': 400}
SKLEARN_PICTURES = ('china', 'flower')       # sklearn.datasets.load_sample_images()
PICTURES = offline_translation.PICTURES + SKLEARN_PICTURES
TEST_PICTURES = ('coffee', 'gravel', 'camera', 'flower')
TRAIN_PICTURES = tuple(name for name in PICTURES if name not in TEST_PICTURES)
SPLIT_PICTURES = {'train': TRAIN_PICTURES, 'test': TEST_PICTURES}


def load_pictures() -> Dict[str, np.ndarray]:
  """Every picture by name, uint8 RGB [h, w, 3]."""
  from sklearn.datasets import load_sample_images
  pictures = dict(zip(offline_translation.PICTURES, offline_translation.load_pictures()))
  samples = load_sample_images()
  by_name = {name.rsplit('/', 1)[-1].split('.')[0]: image
             for name, image in zip(samples.filenames, samples.images)}
  for name in SKLEARN_PICTURES:
    pictures[name] = np.asarray(by_name[name], np.uint8)[..., :3]
  return pictures


def split_crops(split: str, pictures: Dict[str, np.ndarray]
                ) -> Tuple[np.ndarray, List[Tuple[str, int, int]]]:
  """The crops of `split`, uint8 [n, CROP, CROP, 3], and where each came from (picture name,
  top, left): pictures drawn uniformly among SPLIT_PICTURES[split] (the others in `pictures`
  are never looked at), positions uniform."""
  names = SPLIT_PICTURES[split]
  rng = np.random.default_rng(_CROPS_SEEDS[split])
  crops = np.empty((NUM_CROPS[split], CROP, CROP, 3), np.uint8)
  sources = []
  for i in range(len(crops)):
    name = names[rng.integers(len(names))]
    picture = pictures[name]
    h, w = picture.shape[:2]
    top, left = int(rng.integers(0, h - CROP + 1)), int(rng.integers(0, w - CROP + 1))
    crops[i] = picture[top:top + CROP, left:left + CROP]
    sources.append((name, top, left))
  return crops, sources


class OfflinePictureCrops(tfds.core.GeneratorBasedBuilder):
  """64x64 crops of scikit-image's and scikit-learn's pictures; test from held-out pictures."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': '4,000 train / 400 test crops; test pictures coffee, gravel, '
                            'camera, flower.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='64x64 RGB crops of the photographs and textures scikit-image and '
                    'scikit-learn ship, for inpainting; the test crops come from pictures '
                    f'no train crop comes from ({", ".join(TEST_PICTURES)}).',
        features=tfds.features.FeaturesDict({
            # Raw bytes: the default encoding stores every uint8 as an int64 (8x the disk)
            # and serialises them one by one (most of the build time).
            'image': tfds.features.Tensor(shape=(CROP, CROP, 3), dtype=np.uint8,
                                          encoding=tfds.features.Encoding.BYTES),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # the pictures come with scikit-image and scikit-learn
    pictures = load_pictures()
    return {split: self._generate_examples(split_crops(split, pictures)[0])
            for split in SPLIT_PICTURES}

  def _generate_examples(self, crops):
    for i, crop in enumerate(crops):
      yield i, {'image': crop}


BUILDERS = {'offline_picture_crops': OfflinePictureCrops}
