"""Moving models, training state and inputs between the PyTorch originals and jaxgan."""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from jaxgan import porting
from jaxgan.trainers.adversarial import GANState, Player


def numpy_state_dict(net) -> dict:
  """A PyTorch module's state dict as plain numpy arrays (what jaxgan.porting takes)."""
  return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def load_numpy_state_dict(net, state_dict) -> None:
  net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})


def _optax_state(tx, params, jax_module, net, optimizer, example, dtype):
  """optax state for `tx` holding the PyTorch optimizer's per-parameter state."""
  # Built on the host from the state's shapes: no device computation, nothing to compile.
  state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(tx.init, params))
  names = {id(p): n for n, p in net.named_parameters()}
  per_param = {names[id(p)]: s for p, s in optimizer.state.items() if id(p) in names}
  if not per_param:
    return state  # fresh optimizer: nothing to carry
  sd = numpy_state_dict(net)

  def tree(field):
    values = {n: s[field].detach().numpy() for n, s in per_param.items()}
    return porting.torch_to_flax_like_params(jax_module, sd, values, example, dtype=dtype,
                                             train=False)

  def convert(s):
    if isinstance(s, optax.ScaleByAdamState):
      count = int(next(iter(per_param.values()))['step'])
      return s._replace(count=np.asarray(count, s.count.dtype), mu=as_jax(tree('exp_avg')),
                        nu=as_jax(tree('exp_avg_sq')))
    if isinstance(s, optax.ScaleByRmsState):
      return s._replace(nu=as_jax(tree('square_avg')))
    if isinstance(s, tuple) and not hasattr(s, '_fields'):
      return tuple(convert(x) for x in s)
    return s
  return convert(state)


def as_jax(tree):
  return jax.tree.map(jnp.asarray, tree)


def _dtype_of(net):
  return next(net.parameters()).detach().numpy().dtype


def player_from_torch(jax_module, net, optimizer, tx, example) -> Player:
  """A jaxgan Player (params, batch_stats, optimizer state) equal to a PyTorch net + optimizer,
  in the net's dtype (float64 nets give float64 trees, for exact comparisons under x64)."""
  dtype = _dtype_of(net)
  variables = porting.torch_to_flax(jax_module, numpy_state_dict(net), example, dtype=dtype,
                                    train=False)
  params = as_jax(variables['params'])
  return Player(params, as_jax(variables.get('batch_stats', {})),
                as_jax(_optax_state(tx, params, jax_module, net, optimizer, example, dtype)))


def state_from_torch(trainer, tgan, step: int = 0) -> GANState:
  """The jaxgan AdversarialTrainer state equal to a `TorchGAN`'s nets and optimizers."""
  z = jnp.zeros((1, trainer.latent_dim), jnp.float32)
  x = jnp.zeros((1,) + tuple(trainer.image_shape), jnp.float32)
  return GANState(step=jnp.asarray(step, jnp.int32),
                  g=player_from_torch(trainer.generator, tgan.netG, tgan.optimizerG, trainer.g_tx, z),
                  d=player_from_torch(trainer.discriminator, tgan.netD, tgan.optimizerD, trainer.d_tx, x))


def variables_of(player: Player) -> dict:
  out = {'params': player.params}
  if player.batch_stats:
    out['batch_stats'] = player.batch_stats
  return out


def torch_images(images_nhwc, dtype=np.float32) -> torch.Tensor:
  """[B, H, W, C] (numpy or jax) -> a [B, C, H, W] tensor."""
  return torch.from_numpy(np.array(np.asarray(images_nhwc, dtype).transpose(0, 3, 1, 2), order='C'))


def torch_step_inputs(trainer, batch, key):
  """The real batches, latents and penalty interpolation weights the jaxgan step
  `step(state, batch, key)` uses, as arguments of `TorchGAN.step`: batch['image'] is
  [d_steps, B, H, W, C]; critic update i draws its latents from fold_in(key, i) and its
  interpolation weights from fold_in(fold_in(key, i), 2) (jaxgan/trainers/adversarial.py)."""
  images = np.asarray(batch['image'])
  k, b = images.shape[:2]
  reals = [torch_images(images[i], images.dtype) for i in range(k)]

  @jax.jit
  def draws(key):
    keys = [jax.random.fold_in(key, i) for i in range(k)]
    return ([trainer.sample_latents(key_i, b) for key_i in keys],
            [jax.random.uniform(jax.random.fold_in(key_i, 2), (b, 1, 1, 1), images.dtype)
             for key_i in keys])
  noises, eps = draws(key)
  as_torch = lambda a: torch.from_numpy(np.array(a, images.dtype))
  return reals, [as_torch(z) for z in noises], [as_torch(e) for e in eps]
