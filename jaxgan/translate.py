"""Runs a trained image-to-image generator on an image or a folder of images:

  python -m jaxgan.translate --workdir=DIR --input=PATH --output=OUT [--direction=AtoB] [--size=N]

DIR is a CycleGAN or pix2pix run (its config.json and newest checkpoint are restored, as
jaxgan.evaluate does); PATH an image file or a folder of them (png, jpg, ...); each
translation is written to OUT/<name>.png. Images keep their own size when the generator
accepts it (sides that are multiples of 4 for the resnet generator, of 2^unet_downs for the
U-Net), else `--size=N` resizes them to N x N first (bicubic). Grey and colour inputs are
converted to the channels the generator was trained on. `--direction=BtoA` runs CycleGAN's
other generator. Exit status: 0 done, 2 bad input (one line on stderr).
"""
import argparse
import os
import sys

import numpy as np

from jaxgan.errors import DataError, UserError

DIRECTIONS = {'AtoB': 'a_to_b', 'BtoA': 'b_to_a'}


def input_files(path: str, flag: str = '--input'):
  from jaxgan.data.translation import IMAGE_SUFFIXES
  if os.path.isfile(path):
    return [path]
  if os.path.isdir(path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if f.lower().endswith(IMAGE_SUFFIXES))
    if files:
      return files
    raise DataError(f'{path} holds no images ({", ".join(IMAGE_SUFFIXES)})')
  raise DataError(f'{flag}={path!r} is neither an image file nor a folder')


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [H, W, C] -> [H, W, channels]: grey repeated to colour, colour to luminance."""
  if image.shape[-1] == channels:
    return image
  if channels == 3:
    return np.repeat(image, 3, -1)
  weights = np.array([0.299, 0.587, 0.114])
  return np.clip(np.rint(image.astype(np.float64) @ weights), 0, 255).astype(np.uint8)[..., None]


def translate_files(workdir: str, files, output: str, direction: str = 'AtoB', size: int = 0,
                    overrides=()):
  """Translates each file and writes OUT/<name>.png; returns the paths written."""
  import jax
  import jax.numpy as jnp
  from PIL import Image

  from jaxgan.architectures.image_to_image import check_size
  from jaxgan.data.translation import _resize, read_image_file
  from jaxgan.errors import ConfigError
  from jaxgan.evaluate import load_run_config, restore_trained_state

  if direction not in DIRECTIONS:
    raise ConfigError(f'--direction must be AtoB or BtoA, got {direction!r}')
  config = load_run_config(workdir, overrides)
  if config.data.get('source', '') != 'image_to_image':
    raise ConfigError(f'{workdir} is a {config.trainer} run, not an image-to-image one '
                      '(CycleGAN or pix2pix)')
  run, state, step = restore_trained_state(config, workdir)
  name = f'translate_{DIRECTIONS[direction]}'
  functions = run.trainer.functions()
  if name not in functions:
    raise ConfigError(f'a {config.trainer} run translates AtoB only (--direction={direction})')
  info = run.source.info
  channels = (info.image_shape if direction == 'AtoB' else info.target_shape)[-1]
  translate = jax.jit(functions[name])
  os.makedirs(output, exist_ok=True)
  written = []
  for path in files:
    image = to_channels(read_image_file(path), channels)
    if size:
      image = _resize(image, size, pad=False)
    check_size(config.model, image.shape[0], image.shape[1],
               f'{os.path.basename(path)}; pass --size=N to resize')
    x = jnp.asarray(image[None].astype(np.float32) / 127.5 - 1.0)
    y = np.asarray(translate(state, x))[0]
    pixels = np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)
    target = os.path.join(output, os.path.splitext(os.path.basename(path))[0] + '.png')
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(target)
    written.append(target)
  return step, written


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description='Translate images with a trained CycleGAN or '
                                   'pix2pix generator.')
  parser.add_argument('--workdir', required=True, help='the --workdir of a training run')
  parser.add_argument('--input', required=True, help='an image file or a folder of images')
  parser.add_argument('--output', required=True, help='folder for the translations')
  parser.add_argument('--direction', default='AtoB', help='AtoB (default) or BtoA (CycleGAN)')
  parser.add_argument('--size', type=int, default=0, help='resize inputs to N x N first (0: keep)')
  argv = sys.argv[1:] if argv is None else argv
  try:
    args, rest = parser.parse_known_args(argv)
  except SystemExit as e:
    return 2 if e.code else 0
  try:
    from jaxgan.config import command_line_overrides
    overrides = command_line_overrides(rest)
    files = input_files(args.input)
    step, written = translate_files(args.workdir, files, args.output, args.direction,
                                    args.size, overrides)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{args.workdir} (step {step}): translated {len(written)} image(s) {args.direction} '
        f'into {args.output}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
