"""An int8 generator (jaxgan/quantization.py, which needs qwix: imported only when used) as a
trainer of the shared protocol: trainer 'quantized'. It is sampled, previewed and evaluated
like any run (`python -m jaxgan.evaluate`), never trained: `python -m jaxgan.compress
--method=int8` writes its workdir from a trained run.
"""
import flax
import jax
import jax.numpy as jnp

from jaxgan.config_checks import bool_field, get, int_field, require
from jaxgan.errors import ConfigError
from jaxgan.trainers import TRAINERS
from jaxgan.trainers.adversarial import AdversarialTrainer, GANState, validate_gan_config

_CALIBRATION_STREAM = 0xCA1


@flax.struct.dataclass
class QuantizedState:
  step: jax.Array
  params: dict        # the generator's params; each kernel {'qvalue': int8, 'scale': float32}
  batch_stats: dict
  act_scales: dict    # {layer: static int8 scale of its input}; {} when weights only


def validate_quantized_config(config) -> None:
  validate_gan_config(config)
  activations = bool_field(config, 'quantize.activations')
  int_field(config, 'quantize.calibration_batches', 1)
  require(not activations or get(config, 'model.generator') == 'dcgan',
          'quantize.activations=True needs a DCGAN generator (its transposed convolutions run '
          'in int8); set quantize.activations=False to quantize the weights only')


@TRAINERS.register('quantized')
class QuantizedTrainer(AdversarialTrainer):

  validate_config = staticmethod(validate_quantized_config)

  def __init__(self, config, data_info):
    super().__init__(config, data_info)
    self.activations = bool(config.quantize.activations)
    self.calibration_batches = int(config.quantize.calibration_batches)

  def init(self, key, example_batch) -> QuantizedState:
    """A quantized random generator: the state's structure (compress fills in the values)."""
    return self.quantize(super().init(key, example_batch))

  def quantize(self, gan: GANState, key=None) -> QuantizedState:
    """The generator of a trained adversarial-family state, in int8; activations calibrated
    on `quantize.calibration_batches` sampling batches drawn from `key`."""
    from jaxgan.quantization import calibrate_activations, quantize_params
    key = jax.random.PRNGKey(_CALIBRATION_STREAM) if key is None else key
    params = quantize_params(gan.g.params)
    act_scales = {}
    if self.activations:
      batch = self.config.train.batch_size   # the batch size sampling uses
      batches = [self._g_args(self.draw_latents(jax.random.fold_in(key, i), batch))
                 for i in range(self.calibration_batches)]
      act_scales = calibrate_activations(self.generator, params, gan.g.batch_stats, batches,
                                         train=self.sample_with_batch_stats)
    return QuantizedState(step=jnp.asarray(gan.step, jnp.int32), params=params,
                          batch_stats=gan.g.batch_stats, act_scales=act_scales)

  def make_step(self, phase: int = 0):
    raise ConfigError('an int8 generator (trainer quantized) is sampled and evaluated, not '
                      'trained: fine-tune the float run, then quantize it again with '
                      'python -m jaxgan.compress --method=int8')

  def generate(self, state: QuantizedState, latents) -> jax.Array:
    from jaxgan.quantization import apply_quantized
    return apply_quantized(self.generator, state.params, state.batch_stats, self._g_args(latents),
                           train=self.sample_with_batch_stats, act_scales=state.act_scales)

  def generator_variables(self, state: QuantizedState):
    return {'params': state.params, 'batch_stats': state.batch_stats}
