"""What a user sees of a run: metrics.jsonl, TensorBoard event files, a progress bar or log
lines, and sample grids as PNG. Only process 0 writes."""
import json
import math
import os
import sys
import time
from typing import Dict, Optional

import numpy as np


def image_grid(images: np.ndarray, columns: Optional[int] = None, padding: int = 2) -> np.ndarray:
  """[N, H, W, C] floats in [-1, 1] -> one uint8 [rows*(H+p)+p, cols*(W+p)+p, C] image."""
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  columns = columns or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / columns))
  grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, np.uint8)
  pixels = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, columns)
    top, left = padding + r * (h + padding), padding + col * (w + padding)
    grid[top:top + h, left:left + w] = pixels[i]
  return grid


def save_png(path: str, grid: np.ndarray) -> None:
  from PIL import Image
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


class Reporter:
  """Writes metrics.jsonl and TensorBoard events, and shows progress."""

  def __init__(self, workdir: str, num_steps: int, start_step: int, progress_bar: str,
               is_writer: bool):
    self.workdir = workdir
    self.is_writer = is_writer
    self.num_steps = num_steps
    self.metrics_path = os.path.join(workdir, 'metrics.jsonl')
    self._bar = None
    self._tb = None
    if not is_writer:
      return
    self._drop_records_after(start_step)
    self._jsonl = open(self.metrics_path, 'a')
    from tensorboardX import SummaryWriter
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'), purge_step=start_step + 1)
    use_bar = progress_bar == 'yes' or (progress_bar == 'auto' and sys.stderr.isatty())
    if use_bar:
      from tqdm import tqdm
      self._bar = tqdm(total=num_steps, initial=start_step, unit='step', dynamic_ncols=True)

  def _drop_records_after(self, step: int) -> None:
    """A resumed run redoes the steps after its checkpoint; drop their old records."""
    if not os.path.exists(self.metrics_path):
      return
    with open(self.metrics_path) as f:
      lines = f.readlines()
    kept = []
    for line in lines:
      try:
        if json.loads(line)['step'] <= step:
          kept.append(line)
      except (ValueError, KeyError):
        continue  # A line cut short by a kill.
    with open(self.metrics_path + '.tmp', 'w') as f:
      f.writelines(kept)
    os.replace(self.metrics_path + '.tmp', self.metrics_path)

  def write(self, step: int, metrics: Dict[str, float]) -> None:
    if not self.is_writer:
      return
    record = {'step': int(step), **{k: float(v) for k, v in metrics.items()}}
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for name, value in metrics.items():
      self._tb.add_scalar(name, float(value), int(step))

  def preview(self, step: int, name: str, images: np.ndarray) -> None:
    """A trainer's preview: [N, H, W, C] (a square grid) or [rows, cols, H, W, C] images in
    [-1, 1], written as samples/step_<N>.png ('samples') or samples/<name>_step_<N>.png, and
    to TensorBoard under `name`."""
    if not self.is_writer:
      return
    images = np.asarray(images)
    columns = None
    if images.ndim == 5:
      columns = images.shape[1]
      images = images.reshape((-1,) + images.shape[2:])
    if images.ndim != 4:
      raise ValueError(f'preview {name!r} has shape {images.shape}; previews are images '
                       '[N, H, W, C] or [rows, cols, H, W, C]')
    grid = image_grid(images, columns)
    filename = f'step_{step}.png' if name == 'samples' else f'{name}_step_{step}.png'
    save_png(os.path.join(self.workdir, 'samples', filename), grid)
    self._tb.add_image(name, grid, int(step), dataformats='HWC')

  def progress(self, step: int, metrics: Dict[str, float]) -> None:
    if not self.is_writer:
      return
    shown = ' '.join(f'{k}={v:.4g}' for k, v in metrics.items())
    if self._bar is not None:
      self._bar.n = step
      self._bar.set_postfix_str(shown, refresh=True)
    else:
      print(f'[{time.strftime("%H:%M:%S")}] step {step}/{self.num_steps} {shown}', flush=True)

  def message(self, text: str) -> None:
    if not self.is_writer:
      return
    if self._bar is not None:
      self._bar.write(text)
    else:
      print(text, flush=True)

  def close(self) -> None:
    if not self.is_writer:
      return
    if self._bar is not None:
      self._bar.close()
    self._jsonl.close()
    self._tb.close()
