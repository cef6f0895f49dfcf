"""PyTorch originals of the jaxgan models, for parity tests and the speed harness.

`MODELS` lists the model pairs that are compared: a jaxgan config (file plus overrides) whose
generator/discriminator names have PyTorch builders in `nets.GENERATORS` / `nets.DISCRIMINATORS`
(family 'adversarial', trained by `steps.TorchGAN`), or, for family 'vae', the tutorial VAE
(`vae.TorchVAE`, trained by `vae.TorchVAETrainer`), or, for family 'progan', ProGAN at one of
its phases (`progan.TorchProGAN`, written from the official TensorFlow code). Code that drives
GAN pairs (the GAN parity tests, the end-to-end comparison of benchmarks/speed.py) selects
`family == 'adversarial'`.
To add a model: write its PyTorch modules in `nets.py` (layers in forward order, the original's
names), register the builders under the jaxgan registry names, add its loss to
`steps.OBJECTIVES` if new, and append a `ModelPair` here. `jaxgan.porting` maps the weights by
forward order, so no per-model porting code is needed for Linear/Conv/ConvTranspose/BatchNorm/
Embedding layers. The 2-D mixture benchmark's nets and steps (PacGAN's MLPs, packing,
minibatch discrimination, WGAN-GP, the unrolled GAN) live in `mixtures.py`, which ports by
parameter name (tests/test_mixture_parity.py, benchmarks/mixture_differential.py). PyTorch is an optional extra (`pip install -e '.[bench]'`); jaxgan never
imports this package.
"""
import dataclasses
import os
from typing import Dict, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class ModelPair:
  name: str
  config_file: str                      # relative to the repository root
  overrides: Tuple[str, ...] = ()       # `field=value`, as on the launch.py command line
  description: str = ''
  family: str = 'adversarial'           # 'adversarial' (steps.TorchGAN) | 'vae' (vae.TorchVAETrainer)
                                        # | 'progan' (progan.TorchProGAN)
  phase: str = ''                       # the phase the speed rows time ('': the first)

  def config(self, *extra_overrides: str):
    from jaxgan import config as config_lib
    config = config_lib.load_config_file(os.path.join(REPO_ROOT, self.config_file))
    config_lib.apply_overrides(config, self.overrides + tuple(extra_overrides))
    return config


MODELS: Dict[str, ModelPair] = {m.name: m for m in [
    ModelPair('gan', 'configs/gan.py', (), 'tutorial MLP GAN, 28x28'),
    ModelPair('bn_gan', 'configs/bn_gan.py', (), 'BN-MLP generator + DCGAN discriminator, 28x28'),
    ModelPair('dcgan28', 'configs/dcgan.py', (), 'DCGAN (pytorch/examples), 28x28'),
    ModelPair('dcgan64', 'configs/dcgan.py', ('data.image_size=64',),
              'DCGAN (pytorch/examples), 64x64 (the original size)'),
    ModelPair('wgan', 'configs/wgan.py', (), 'WGAN: DCGAN nets, weight clipping, RMSprop, 5 critic steps, 28x28'),
    ModelPair('wgan_gp', 'configs/wgan_gp.py', (), 'WGAN-GP: DCGAN nets (critic without BN), 5 critic steps, 28x28'),
    ModelPair('vae', 'configs/vae.py', (), 'tutorial MLP VAE (pytorch/examples), 784-400-20',
              family='vae'),
    # ProGAN's stable phase at each resolution of configs/progan.py (32x32 digits, box-filtered
    # down to the phase's resolution in the step), at that resolution's minibatch.
    *[ModelPair(f'progan{r}', 'configs/progan.py', (), f'ProGAN (official TF code), phase stable_{r}',
                family='progan', phase=f'stable_{r}') for r in (8, 16, 32)],
]}


def image_shape_of(config) -> Tuple[int, int, int]:
  """(H, W, C) of the offline digits after `data.image_size`, without reading the dataset."""
  size = config.data.image_size or 28
  if config.data.name != 'offline_mnist':
    raise NotImplementedError('the model pairs are defined on offline_mnist')
  return (size, size, 1)

