"""Penalties on the discriminator and constraints on its weights, chosen by
`config.regularizer`.

A penalty has one signature, `penalty(critic, real, fake, key) -> scalar`, where `critic` maps a
batch [B, ...] to logits [B] with the discriminator's current parameters (and labels, if any);
the trainer adds `config.regularizer.weight * penalty` to the discriminator's loss.
A constraint maps the discriminator's parameters after each of its updates.
"""
import jax
import jax.numpy as jnp

from jaxgan.registry import Registry

PENALTIES = Registry('regularizer')


def per_sample_norm(grads: jax.Array) -> jax.Array:
  """The L2 norm of each sample's gradient over every non-batch axis (pixels and channels
  together: the axis a well-known PyTorch implementation gets wrong). sqrt(x + 1e-12) keeps
  the second derivative finite where a gradient vanishes."""
  axes = tuple(range(1, grads.ndim))
  return jnp.sqrt(jnp.sum(grads ** 2, axis=axes) + 1e-12)


def input_gradients(critic, x: jax.Array) -> jax.Array:
  """d critic(x)_i / d x_i for every sample i (samples are independent given the params)."""
  return jax.grad(lambda inputs: critic(inputs).sum())(x)


@PENALTIES.register('gradient_penalty')
def gradient_penalty(critic, real, fake, key):
  """Gulrajani et al. 2017: E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = e real + (1 - e) fake,
  e ~ U[0, 1] per sample."""
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  interpolates = eps * real + (1.0 - eps) * fake
  norms = per_sample_norm(input_gradients(critic, interpolates))
  return jnp.mean((norms - 1.0) ** 2)


@PENALTIES.register('r1')
def r1_penalty(critic, real, fake, key):
  """Mescheder et al. 2018: (1/2) E[||grad D(x_real)||^2]; the weight is gamma."""
  del fake, key
  grads = input_gradients(critic, real)
  return 0.5 * jnp.mean(jnp.sum(grads ** 2, axis=tuple(range(1, grads.ndim))))


# The penalties above differentiate the critic's input gradient, so D is differentiated twice
# (trainers choose their convolution form by it).
DOUBLE_BACKWARD_PENALTIES = frozenset({'gradient_penalty', 'r1'})


def get_penalty(name: str):
  """The penalty called `name`, or None for 'none'."""
  if name == 'none':
    return None
  return PENALTIES.get(name, 'regularizer.name')


def clip_weights(params, clip: float):
  """WGAN's constraint: every parameter of the critic clipped to [-clip, clip]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def make_constraint(regularizer_config):
  """The map applied to the discriminator's parameters after each update."""
  clip = float(regularizer_config.clip)
  if clip > 0:
    return lambda params: clip_weights(params, clip)
  return lambda params: params
