"""Fills holes with a trained inpainting generator:

  python -m jaxgan.inpaint --workdir=DIR --image=in.png --mask=mask.png --output=out.png
  python -m jaxgan.inpaint --workdir=DIR --image=IMAGES/ --mask=MASKS/ --output=OUT/

DIR is an inpainting run (its config.json and newest checkpoint are restored, as
jaxgan.evaluate does). A mask is an image of the same size, white (> 127) where the hole is,
the reference's convention; for a folder of images, --mask is one mask for all of them or a
folder holding a mask of the same file name for each. Without --mask, a mask of the run's kind
(`data.mask`) is drawn from --seed and written beside each output as <name>_mask.png. Pixels
outside the hole are returned unchanged, byte for byte. Images keep their size when both
sides are multiples of 8, else --size=N resizes image (bicubic) and mask (nearest) to N x N
first. Exit status: 0 done, 2 bad input (one line on stderr).
"""
import argparse
import os
import sys

import numpy as np

from jaxgan.errors import ConfigError, DataError, UserError


def _mask_for(mask_arg: str, image_path: str, many: bool) -> str:
  if not mask_arg or os.path.isfile(mask_arg):
    return mask_arg
  if os.path.isdir(mask_arg):
    if not many:
      raise DataError(f'--mask={mask_arg!r} is a folder; for one --image, pass one mask file')
    stem = os.path.splitext(os.path.basename(image_path))[0]
    from jaxgan.data.translation import IMAGE_SUFFIXES
    for suffix in IMAGE_SUFFIXES:
      candidate = os.path.join(mask_arg, stem + suffix)
      if os.path.isfile(candidate):
        return candidate
    raise DataError(f'{mask_arg} holds no mask named {stem}.* for {image_path}')
  raise DataError(f'--mask={mask_arg!r} is neither an image file nor a folder')


def _save(pixels: np.ndarray, path: str) -> None:
  from PIL import Image
  Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)


def inpaint_files(workdir: str, images, output: str, mask: str = '', size: int = 0,
                  seed: int = 0, overrides=()):
  """Fills each image's hole; returns (checkpoint step, paths written). `output` is a file
  name for one image, else a folder (written as OUT/<name>.png)."""
  import jax
  import jax.numpy as jnp

  from jaxgan.data import masks as masks_lib
  from jaxgan.data.translation import _resize, read_image_file
  from jaxgan.evaluate import load_run_config, restore_trained_state
  from jaxgan.translate import to_channels

  config = load_run_config(workdir, overrides)
  if config.trainer != 'inpainting':
    raise ConfigError(f'{workdir} is a {config.trainer} run, not an inpainting one')
  run, state, step = restore_trained_state(config, workdir)
  channels = run.source.info.image_shape[-1]
  inpaint = jax.jit(run.trainer.functions()['inpaint'])
  many = len(images) > 1 or os.path.isdir(output) or output.endswith(os.sep)
  if many:
    os.makedirs(output, exist_ok=True)
  elif os.path.dirname(output):
    os.makedirs(os.path.dirname(output), exist_ok=True)
  written = []
  for index, path in enumerate(images):
    image = to_channels(read_image_file(path), channels)
    if size:
      image = _resize(image, size, pad=False)
    height, width = image.shape[:2]
    mask_path = _mask_for(mask, path, many)
    if mask_path:
      hole = masks_lib.read_mask_file(mask_path)
      if size:
        from PIL import Image
        hole = (np.asarray(Image.fromarray((hole[..., 0] * 255).astype(np.uint8)).resize(
            (size, size), Image.NEAREST)) > 127)[..., None].astype(np.float32)
      if hole.shape[:2] != (height, width):
        raise DataError(f'mask {mask_path} is {hole.shape[0]}x{hole.shape[1]}, the image {path} '
                        f'{height}x{width}; give a mask of the image\'s size')
    else:
      key = jax.random.fold_in(jax.random.PRNGKey(seed), index)
      hole = np.asarray(masks_lib.make_masks(config.data.mask, key, 1, height, width))[0]
    if height % 8 or width % 8:
      raise DataError(f'{os.path.basename(path)} is {height}x{width}; the generator needs sides '
                      'that are multiples of 8: pass --size=N to resize')
    x = jnp.asarray(image[None].astype(np.float32) / 127.5 - 1.0)
    y = np.asarray(inpaint(state, x, jnp.asarray(hole[None])))[0]
    filled = np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8)
    # Outside the hole the input's own bytes, whatever rounding the model's path did.
    pixels = np.where(hole > 0.5, filled, image)
    target = (os.path.join(output, os.path.splitext(os.path.basename(path))[0] + '.png')
              if many else output)
    _save(pixels, target)
    written.append(target)
    if not mask_path:
      _save((hole * 255).astype(np.uint8), os.path.splitext(target)[0] + '_mask.png')
  return step, written


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description='Fill holes in images with a trained inpainting '
                                   'generator (configs/inpainting.py).')
  parser.add_argument('--workdir', required=True, help='the --workdir of an inpainting run')
  parser.add_argument('--image', required=True, help='an image file or a folder of images')
  parser.add_argument('--mask', default='', help='a mask file (white = hole) or a folder of '
                      'masks named like the images; omitted: draw the run\'s kind from --seed')
  parser.add_argument('--output', required=True, help='the output file (one image) or folder')
  parser.add_argument('--size', type=int, default=0, help='resize to N x N first (0: keep)')
  parser.add_argument('--seed', type=int, default=0, help='for masks drawn without --mask')
  argv = sys.argv[1:] if argv is None else argv
  try:
    args, rest = parser.parse_known_args(argv)
  except SystemExit as e:
    return 2 if e.code else 0
  try:
    from jaxgan.config import command_line_overrides
    overrides = command_line_overrides(rest)
    from jaxgan.translate import input_files
    files = input_files(args.image, '--image')
    step, written = inpaint_files(args.workdir, files, args.output, args.mask, args.size,
                                  args.seed, overrides)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{args.workdir} (step {step}): filled {len(written)} image(s) into {args.output}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
