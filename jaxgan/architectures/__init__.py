"""Flax linen generators and discriminators, chosen by name from the config.

Each registry entry is a factory `(model_config, image_shape, num_classes, options=None) ->
nn.Module` that raises ConfigError when it cannot serve that image shape. Generators map latents
[B, nz] to images [B, H, W, C] in [-1, 1] (or points [B, D]); discriminators map them to logits
[B]. Both take `labels=None` (used by conditional variants) and `train` (BatchNorm mode).
`options` (jaxgan/architectures/heads.py) adds class conditioning, minibatch features and the
InfoGAN Q head; a discriminator with a Q head returns (logits, q). Without options a net is
exactly its plain self, parameter names included.
"""
from jaxgan.registry import Registry

GENERATORS = Registry('generator')
DISCRIMINATORS = Registry('discriminator')

# Importing the modules registers them.
from jaxgan.architectures import dcgan, heads, infogan, mlp, pacgan  # noqa: E402,F401


def _options(model_config, num_classes, q_outputs=0):
  if 'conditioning' not in model_config:  # a config from before these options existed
    return None
  options = heads.options_from_config(model_config, num_classes, q_outputs)
  heads.check(options)
  return None if options == heads.Options() else options


def make_generator(model_config, image_shape, num_classes=0):
  factory = GENERATORS.get(model_config.generator, 'model.generator')
  options = _options(model_config, num_classes)
  if options is not None:
    # The generator only conditions; minibatch features and Q heads are the discriminator's.
    options = heads.Options(num_classes=options.num_classes, conditioning=options.conditioning,
                            label_embed_dim=options.label_embed_dim)
    if options == heads.Options():
      options = None
  return factory(model_config, image_shape, num_classes, options)


def make_discriminator(model_config, image_shape, num_classes=0, q_outputs=0):
  factory = DISCRIMINATORS.get(model_config.discriminator, 'model.discriminator')
  return factory(model_config, image_shape, num_classes,
                 _options(model_config, num_classes, q_outputs))
