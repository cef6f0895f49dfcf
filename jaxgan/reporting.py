"""What a user sees of a run: metrics.jsonl, TensorBoard event files, a progress bar or log
lines, and sample grids as PNG. Only process 0 writes.

Every write happens in the calling thread, so a full disk or a read-only or vanished workdir
raises OSError right there (the loop reports it in one line, jaxgan/train.py): TensorBoard
events go through `EventFile`, not tensorboardX's SummaryWriter, whose writer thread died on
a full disk (printing a traceback) and whose queue then blocked later writes. Before each
write the workdir is checked to be the folder the run started in, so a workdir removed under
the run is reported instead of being silently made again by the next write.
"""
import contextlib
import json
import math
import os
import socket
import struct
import sys
import time
from typing import Dict, Optional

import numpy as np

from jaxgan import faults


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


@contextlib.contextmanager
def _writing(path: str):
  """Names `path` in an OSError that does not (a failed write or flush of an open file)."""
  try:
    yield
  except OSError as e:
    if e.filename is None:
      raise OSError(e.errno, e.strerror or str(e), path) from e
    raise


def _import_tensorboardx():
  """Imports tensorboardX without letting it import PyTorch: its package __init__ imports torch,
  when installed, only to accept torch tensors, which jaxgan never passes; that import took
  1.7 s of every run's start-up (about a quarter of a short run). torch stays importable."""
  if 'tensorboardX' not in sys.modules and 'torch' not in sys.modules:
    sys.modules['torch'] = None   # `import torch` raises ImportError while this is set
    try:
      import tensorboardX  # noqa: F401
    finally:
      del sys.modules['torch']
  import tensorboardX.proto.event_pb2
  import tensorboardX.record_writer
  import tensorboardX.summary
  return tensorboardX


class EventFile:
  """A TensorBoard event file (events.out.tfevents.*), written synchronously: the records
  tensorboardX's SummaryWriter writes (with its purge_step marker, so TensorBoard hides events
  of steps a resumed run redoes), framed the same way, flushed to the OS after each call."""

  def __init__(self, logdir: str, purge_step: Optional[int] = None):
    tbx = _import_tensorboardx()
    Event, SessionLog = tbx.proto.event_pb2.Event, tbx.proto.event_pb2.SessionLog
    self._event, self._session_log = Event, SessionLog
    os.makedirs(logdir, exist_ok=True)
    name = (f'events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}')
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, 'ab')   # appending: a second run within the same second adds to it
    self._write(Event(wall_time=time.time(), file_version='brain.Event:2'))
    if purge_step is not None:
      self._write(Event(wall_time=time.time(), step=purge_step,
                        session_log=SessionLog(status=SessionLog.START)))
    self._file.flush()

  def _write(self, event) -> None:
    from tensorboardX.record_writer import masked_crc32c
    data = event.SerializeToString()
    header = struct.pack('Q', len(data))
    self._file.write(header + struct.pack('I', masked_crc32c(header)) + data +
                     struct.pack('I', masked_crc32c(data)))

  def add_scalars(self, step: int, values: Dict[str, float]) -> None:
    from tensorboardX.summary import scalar
    for name, value in values.items():
      self._write(self._event(wall_time=time.time(), step=int(step),
                              summary=scalar(name, float(value))))
    self._file.flush()

  def add_image(self, name: str, grid: np.ndarray, step: int) -> None:
    from tensorboardX.summary import image
    self._write(self._event(wall_time=time.time(), step=int(step),
                            summary=image(name, grid, dataformats='HWC')))
    self._file.flush()

  def add_text(self, name: str, text: str, step: int) -> None:
    from tensorboardX.summary import text as text_summary
    self._write(self._event(wall_time=time.time(), step=int(step),
                            summary=text_summary(name, text)))
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class Reporter:
  """Writes metrics.jsonl and TensorBoard events, and shows progress."""

  def __init__(self, workdir: str, num_steps: int, start_step: int, progress_bar: str,
               is_writer: bool, decode_tokens=None):
    self.workdir = workdir
    self.is_writer = is_writer
    self.decode_tokens = decode_tokens   # token ids [N, T] -> N lines (None: ids as numbers)
    self.num_steps = num_steps
    self.metrics_path = os.path.join(workdir, 'metrics.jsonl')
    self._bar = None
    self._tb = None
    self._jsonl = None
    if not is_writer:
      return
    self._workdir = faults.Folder(workdir, 'the workdir')
    self._drop_records_after(start_step)
    self._jsonl = open(self.metrics_path, 'a')
    try:
      self._tb = EventFile(os.path.join(workdir, 'tensorboard'), purge_step=start_step + 1)
    except BaseException:
      self._jsonl.close()
      raise
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
    self._workdir.check()
    record = {'step': int(step), **{k: float(v) for k, v in metrics.items()}}
    with _writing(self.metrics_path):
      self._jsonl.write(json.dumps(record) + '\n')
      self._jsonl.flush()
    with _writing(self._tb.path):
      self._tb.add_scalars(step, metrics)

  def preview(self, step: int, name: str, images: np.ndarray) -> None:
    """A trainer's preview: [N, H, W, C] (a square grid) or [rows, cols, H, W, C] images in
    [-1, 1], written as samples/step_<N>.png ('samples') or samples/<name>_step_<N>.png, and
    to TensorBoard under `name`; or token ids [N, T] (integers), written as text (.txt)."""
    if not self.is_writer:
      return
    self._workdir.check()
    images = np.asarray(images)
    if images.ndim == 2 and np.issubdtype(images.dtype, np.integer):
      self._text_preview(step, name, images)
      return
    columns = None
    if images.ndim == 5:
      columns = images.shape[1]
      images = images.reshape((-1,) + images.shape[2:])
    if images.ndim != 4:
      raise ValueError(f'preview {name!r} has shape {images.shape}; previews are images '
                       '[N, H, W, C] or [rows, cols, H, W, C]')
    grid = image_grid(images, columns)
    filename = f'step_{step}.png' if name == 'samples' else f'{name}_step_{step}.png'
    path = os.path.join(self.workdir, 'samples', filename)
    with _writing(path):
      save_png(path, grid)
    with _writing(self._tb.path):
      self._tb.add_image(name, grid, step)

  def _text_preview(self, step: int, name: str, tokens: np.ndarray) -> None:
    """Token ids [N, T]: one sequence a line, samples/step_<N>.txt ('samples') or
    samples/<name>_step_<N>.txt, and to TensorBoard as text under `name`."""
    lines = (self.decode_tokens(tokens) if self.decode_tokens is not None
             else [' '.join(str(int(t)) for t in row) for row in tokens])
    filename = f'step_{step}.txt' if name == 'samples' else f'{name}_step_{step}.txt'
    path = os.path.join(self.workdir, 'samples', filename)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _writing(path):
      with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    with _writing(self._tb.path):
      self._tb.add_text(name, '\n\n'.join(lines[:16]), step)

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

  def close(self, quiet: bool = False) -> None:
    """Closes the progress bar, metrics.jsonl and the event file, each even if another fails
    (a full disk fails the final flush); then raises the first failure unless `quiet` (on
    the way out of an error, which is the one to report)."""
    if not self.is_writer:
      return
    failures = []
    for part, path in ((self._bar, None), (self._jsonl, self.metrics_path),
                       (self._tb, getattr(self._tb, 'path', None))):
      if part is None:
        continue
      try:
        with _writing(path or self.workdir):
          part.close()
      except Exception as e:  # OSError from the flush; the file is closed all the same
        failures.append(e)
    self._bar = self._jsonl = self._tb = None
    if failures and not quiet:
      raise failures[0]
