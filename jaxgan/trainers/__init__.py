"""Training schemes. Every trainer follows one protocol, so `train.py` runs them all without
knowing which family it runs (../DESIGN.md, "The trainer protocol"):

  Trainer.validate_config(config)                 # classmethod: the family's own fields
  trainer = make_trainer(config, source.info)     # builds modules
  trainer.phases() -> [Phase(name, num_steps, batches_per_step, batch_size)]
  state = trainer.init(key, example_batch)        # the state of phase 0: a flax.struct
                                                  #   dataclass with a `step` field
  state = trainer.enter_phase(state, index, key)  # at the first step of phase `index` >= 1
  step = trainer.make_step(index)                 # pure: (state, batch, key) -> (state, metrics)
  trainer.previews(state, preview_batch, key)     # {name: images}: [N, H, W, C] in [-1, 1]
                                                  #   (a square grid) or [rows, cols, H, W, C];
                                                  #   'samples' is samples/step_<N>.png, the rest
                                                  #   samples/<name>_step_<N>.png
                                                  #   or token ids [N, T] (integers): text,
                                                  #   samples/step_<N>.txt (SeqGAN)
  trainer.functions()                             # {'sample': (state, key, n) -> items, ...}:
                                                  #   what evaluators call (jaxgan/metrics)

Phases run in order; phase i covers `num_steps` steps (the last one runs until
`train.num_steps`, whatever its own count) of `batch_size` examples per batch (None:
`train.batch_size`; ProGAN's minibatch per resolution). A state after s steps has the structure of the
phase that ran step s - 1 (phase 0 when s = 0): the loop enters phase i just before its first
step, and a resume rebuilds the structure from the config alone (`state_structure`).
`batch` holds the source's schema with `batches_per_step` stacked batches (jaxgan/data).
"""
import dataclasses
from typing import Any, Callable, Dict, List, Optional

from jaxgan.registry import Registry

TRAINERS = Registry('trainer')


@dataclasses.dataclass(frozen=True)
class Phase:
  name: str
  num_steps: Optional[int]   # None: until train.num_steps (the last phase only)
  batches_per_step: int = 1
  batch_size: Optional[int] = None   # examples per batch; None: train.batch_size


class Trainer:
  """Defaults of the protocol: one phase, nothing to do at a phase boundary."""

  @classmethod
  def validate_config(cls, config) -> None:
    del config

  def phases(self) -> List[Phase]:
    return [Phase('train', None, 1)]

  def enter_phase(self, state, index: int, key):
    del index, key
    return state

  def functions(self) -> Dict[str, Callable]:
    return {}


from jaxgan.trainers import adversarial, image_to_image, inpainting, progan, seqgan, vae  # noqa: E402,F401  (register themselves)
from jaxgan.trainers import distillation, pruning, quantized  # noqa: E402,F401  (compression)
from jaxgan.trainers import translation_distillation, translation_pruning  # noqa: E402,F401


def make_trainer(config, data_info):
  return TRAINERS.get(config.trainer, 'trainer')(config, data_info)


def state_structure(trainer, example_batch, phase_index: int) -> Any:
  """The state's shapes and dtypes in phase `phase_index`: init, then every enter_phase up
  to it, traced (jax.eval_shape) so nothing is computed."""
  import jax
  key = jax.random.PRNGKey(0)

  def build(key):
    state = trainer.init(key, example_batch)
    for index in range(1, phase_index + 1):
      state = trainer.enter_phase(state, index, key)
    return state
  return jax.eval_shape(build, key)
