"""Flax linen generators and discriminators, chosen by name from the config.

Each registry entry is a factory `(model_config, image_shape, num_classes) -> nn.Module` that
raises ConfigError when it cannot serve that image shape. Generators map latents [B, nz] to
images [B, H, W, C] in [-1, 1]; discriminators map images to logits [B]. Both take
`labels=None` (used by conditional variants) and `train` (BatchNorm mode).
"""
from jaxgan.registry import Registry

GENERATORS = Registry('generator')
DISCRIMINATORS = Registry('discriminator')

# Importing the modules registers them.
from jaxgan.architectures import dcgan, mlp  # noqa: E402,F401


def make_generator(model_config, image_shape, num_classes=0):
  return GENERATORS.get(model_config.generator, 'model.generator')(model_config, image_shape, num_classes)


def make_discriminator(model_config, image_shape, num_classes=0):
  return DISCRIMINATORS.get(model_config.discriminator, 'model.discriminator')(
      model_config, image_shape, num_classes)
