"""Options every discriminator and generator can carry, shared so that each architecture adds
them in a few lines: class conditioning, minibatch features and the InfoGAN Q head.

The helpers run inside a net's `@nn.compact` `__call__`, so the submodules they create live at
the top level of that net's parameters ('label_embed', 'projection', 'minibatch', 'q_head', ...)
and a net built without options has exactly the parameters it always had.

- Conditioning (`model.conditioning`): 'none'; 'concat' embeds the label and concatenates it to
  the generator's latent and to the discriminator's input (as constant channels for images);
  'projection' (Miyato & Koyama 2018) gives the generator the same embedding and adds
  <embed(y), features(x)> to the discriminator's logit.
- Minibatch features (`model.minibatch`): 'discrimination' (Salimans et al. 2016: for each of
  B kernels, sum over the other samples of exp(-L1 distance) between C-dim projections) or
  'stddev' (Karras et al. 2018: the feature standard deviation over a group of samples,
  averaged to one number). Either is appended to the penultimate features, which is the same as
  adding a linear function of it to the logit.
- Q head (InfoGAN): a small MLP on the penultimate features predicting the latent codes; the
  discriminator then returns (logits, q).
"""
import dataclasses
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.architectures.layers import Linear
from jaxgan.registry import Registry

CONDITIONINGS = ('none', 'concat', 'projection')


@dataclasses.dataclass(frozen=True)
class Options:
  """What a net adds to its plain form; the default adds nothing."""
  num_classes: int = 0
  conditioning: str = 'none'
  label_embed_dim: int = 0           # 0: num_classes
  minibatch: str = 'none'
  minibatch_kernels: int = 100
  minibatch_kernel_dim: int = 5
  minibatch_group: int = 4
  q_outputs: int = 0                 # InfoGAN Q head outputs (0: none)
  q_hidden: int = 128

  @property
  def conditional(self) -> bool:
    return self.conditioning != 'none'

  @property
  def embed_dim(self) -> int:
    return self.label_embed_dim or self.num_classes


def options_from_config(model, num_classes: int, q_outputs: int = 0) -> Options:
  return Options(num_classes=num_classes if model.conditioning != 'none' else 0,
                 conditioning=model.conditioning, label_embed_dim=model.label_embed_dim,
                 minibatch=model.minibatch, minibatch_kernels=model.minibatch_kernels,
                 minibatch_kernel_dim=model.minibatch_kernel_dim,
                 minibatch_group=model.minibatch_group, q_outputs=q_outputs,
                 q_hidden=model.q_hidden)


# -- conditioning ------------------------------------------------------------------------------

def condition_latent(options: Optional[Options], z, labels):
  """Generator side: [z, embed(y)] when conditional, else z unchanged."""
  if options is None or not options.conditional:
    return z
  embedding = nn.Embed(options.num_classes, options.embed_dim, name='label_embed')(labels)
  return jnp.concatenate([z, embedding.astype(z.dtype)], axis=-1)


def condition_input(options: Optional[Options], x, labels):
  """Discriminator input side ('concat'): the label embedding appended to the last axis
  (broadcast over height and width for images)."""
  if options is None or options.conditioning != 'concat':
    return x
  embedding = nn.Embed(options.num_classes, options.embed_dim, name='label_embed')(labels)
  embedding = embedding.reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (-1,))
  embedding = jnp.broadcast_to(embedding, x.shape[:-1] + (embedding.shape[-1],))
  return jnp.concatenate([x, embedding.astype(x.dtype)], axis=-1)


# -- minibatch features ------------------------------------------------------------------------

MINIBATCH = Registry('minibatch feature')


class MinibatchDiscrimination(nn.Module):
  """Salimans et al. 2016, Sec. 3.2: o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1)."""
  kernels: int
  kernel_dim: int

  @nn.compact
  def __call__(self, features):
    t = self.param('kernel', nn.initializers.normal(0.05),
                   (features.shape[-1], self.kernels * self.kernel_dim))
    m = (features @ t).reshape(-1, self.kernels, self.kernel_dim)          # [N, B, C]
    l1 = jnp.abs(m[:, None] - m[None, :]).sum(-1)                          # [N, N, B]
    n = features.shape[0]
    similarity = jnp.exp(-l1) * (1.0 - jnp.eye(n, dtype=l1.dtype))[:, :, None]
    return similarity.sum(1)                                               # [N, B]


class MinibatchStddev(nn.Module):
  """Karras et al. 2018: std over groups of `group` samples, averaged over features."""
  group: int

  @nn.compact
  def __call__(self, features):
    n = features.shape[0]
    group = self.group if self.group and n % self.group == 0 else n
    x = features.reshape(group, n // group, -1)                            # [G, N/G, F]
    std = jnp.sqrt(x.var(axis=0) + 1e-8).mean(-1)                          # [N/G]
    return jnp.tile(std, group)[:, None]                                    # [N, 1]


MINIBATCH.register('discrimination')(
    lambda o: MinibatchDiscrimination(o.minibatch_kernels, o.minibatch_kernel_dim, name='minibatch'))
MINIBATCH.register('stddev')(lambda o: MinibatchStddev(o.minibatch_group, name='minibatch'))


# -- the logit's extra terms and the Q head ----------------------------------------------------

def finish_logit(options: Optional[Options], logits, features, labels):
  """Adds the optional terms to the plain logits [B]; returns logits or (logits, q).

  `features` are the penultimate features [B, ...] that the plain last layer reads.
  """
  if options is None:
    return logits
  flat = features.reshape(features.shape[0], -1)
  if options.minibatch != 'none':
    extra = MINIBATCH.get(options.minibatch, 'model.minibatch')(options)(flat)
    logits = logits + Linear(1, use_bias=False, name='minibatch_out')(extra)[:, 0]
  if options.conditioning == 'projection':
    embedding = nn.Embed(options.num_classes, flat.shape[-1], name='projection',
                         embedding_init=nn.initializers.normal(0.02))(labels)
    logits = logits + (embedding.astype(flat.dtype) * flat).sum(-1)
  if options.q_outputs:
    h = nn.leaky_relu(Linear(options.q_hidden, name='q_hidden')(flat), 0.2)
    return logits, Linear(options.q_outputs, name='q_out')(h)
  return logits


def check(options: Options) -> None:
  """Raises ConfigError for option values no registry knows."""
  from jaxgan.errors import ConfigError
  if options.conditioning not in CONDITIONINGS:
    raise ConfigError(f'model.conditioning must be one of {", ".join(CONDITIONINGS)}; '
                      f'got {options.conditioning!r}')
  if options.minibatch != 'none':
    MINIBATCH.get(options.minibatch, 'model.minibatch')
  if options.conditional and options.num_classes < 1:
    raise ConfigError(f'model.conditioning={options.conditioning!r} needs a labelled dataset; '
                      'this one has no classes (set data.label_key or model.conditioning=none)')

