"""SeqGAN (Yu et al. 2017, LantaoYu/SeqGAN) on the phase protocol.

Phases, their lengths in steps from the config:
  mle          `seqgan.mle_steps` steps: G's teacher-forced NLL per token (maximum likelihood)
  d_pretrain   `seqgan.d_pretrain_steps` steps (0 drops the phase): one D update a step
  adversarial  until train.num_steps: one policy-gradient step of G, then
               `seqgan.adversarial_d_steps` D updates (the step's stacked real batches)
A D update sees one real batch and B sequences drawn from the current G inside the compiled
step (fresh negatives every update; the reference draws 10,000 negatives and reuses them for
3 epochs), labels real 1 / fake 0, cross entropy plus `seqgan.d_l2` times the L2 (sum of
squares / 2) of the output layer, dropout on the highway output.

The policy-gradient step (REINFORCE): B sequences Y ~ G; reward r_t of token t is D's P(real)
of Y itself at t = T, and for t < T the mean P(real) over `seqgan.rollouts` completions of the
prefix Y_1..t drawn by the roll-out policy (all prefixes and roll-outs in one compiled
function, SequenceLSTM.complete); loss -sum_{b,t} r_t log G(y_t | Y_<t), summed as
the reference does. `seqgan.reward=constant` makes every r_t 1 (the control of the reference's
issue 21). The roll-out policy starts as a copy of G when the adversarial phase begins and then
follows it with a delay after every G step: rate * itself + (1 - rate) * G for the LSTM and the
output layer, the embedding copied outright (the reference's ROLLOUT.update_params).

G has two Adam states as the reference has two optimizers (pre-training and adversarial): the
adversarial one starts afresh at the phase boundary. Gradients of G are clipped to global norm
`seqgan.g_grad_clip`. The state holds G, the roll-out policy and D (with their optimizer
states), so a resume in any phase is exact.
"""
from typing import Dict, List

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan import optimizers
from jaxgan.architectures.seqgan import CNNDiscriminator, SequenceLSTM
from jaxgan.config_checks import choice, float_field, get, int_field, require, widths
from jaxgan.errors import ConfigError
from jaxgan.optimizers import make_optimizer
from jaxgan.trainers import TRAINERS, Phase, Trainer
from jaxgan.trainers.players import Player

REWARDS = ('discriminator', 'constant')
_D_SCORE_CHUNK = 1   # roll-outs scored by D per pass (bounds D's activations over all prefixes)


@flax.struct.dataclass
class SeqGANState:
  step: jax.Array
  g: Player
  rollout: dict       # the roll-out policy's parameters (same tree as g.params)
  d: Player


def validate_seqgan_config(config) -> None:
  """The SeqGAN family's fields (configs/seqgan_common.py)."""
  int_field(config, 'model.g_embed_dim', 1)
  int_field(config, 'model.g_hidden_dim', 1)
  float_field(config, 'model.g_init_std', 0.0, 1e3)
  int_field(config, 'model.d_embed_dim', 1)
  sizes = widths(config, 'model.d_filter_sizes')
  counts = widths(config, 'model.d_num_filters')
  require(len(sizes) == len(counts), f'model.d_filter_sizes ({len(sizes)} widths) and '
          f'model.d_num_filters ({len(counts)} counts) must have the same length')
  float_field(config, 'model.d_dropout_keep', 0.0, 1.0)
  int_field(config, 'seqgan.mle_steps', 1)
  int_field(config, 'seqgan.d_pretrain_steps', 0)
  int_field(config, 'seqgan.adversarial_d_steps', 0)
  int_field(config, 'seqgan.rollouts', 1)
  float_field(config, 'seqgan.rollout_update_rate', 0.0, 1.0, low_inclusive=True)
  choice(config, 'seqgan.reward', REWARDS)
  float_field(config, 'seqgan.d_l2', 0.0, 1e6, low_inclusive=True)
  float_field(config, 'seqgan.g_grad_clip', 0.0, 1e9)
  group = {'oracle': 'oracle', 'text': 'text'}.get(get(config, 'data.source'))
  if group:   # the sequence length of the token sources
    seq_len = get(config, f'{group}.seq_len')
    require(max(sizes) <= seq_len, f'model.d_filter_sizes has width {max(sizes)}, longer than '
            f'the sequences ({group}.seq_len={seq_len})')
  optimizers.validate(config, ('g_lr', 'd_lr'))


@TRAINERS.register('seqgan')
class SeqGANTrainer(Trainer):

  validate_config = staticmethod(validate_seqgan_config)

  def __init__(self, config, data_info):
    self.config = config
    model, seqgan = config.model, config.seqgan
    self.vocab_size = int(data_info.vocab_size)
    self.seq_len = int(data_info.seq_len)
    if max(model.d_filter_sizes) > self.seq_len:
      raise ConfigError(f'model.d_filter_sizes has width {max(model.d_filter_sizes)}, longer '
                        f'than the sequences ({self.seq_len} tokens)')
    self.generator = SequenceLSTM(self.vocab_size, int(model.g_embed_dim),
                                  int(model.g_hidden_dim), init_std=float(model.g_init_std))
    self.discriminator = CNNDiscriminator(self.vocab_size, int(model.d_embed_dim),
                                          tuple(model.d_filter_sizes), tuple(model.d_num_filters),
                                          float(model.d_dropout_keep))
    self.mle_steps = int(seqgan.mle_steps)
    self.d_pretrain_steps = int(seqgan.d_pretrain_steps)
    self.adversarial_d_steps = int(seqgan.adversarial_d_steps)
    self.rollouts = int(seqgan.rollouts)
    self.update_rate = float(seqgan.rollout_update_rate)
    self.reward = seqgan.reward
    self.d_l2 = float(seqgan.d_l2)
    self.g_tx = optax.chain(optax.clip_by_global_norm(float(seqgan.g_grad_clip)),
                            make_optimizer(config.optim, config.optim.g_lr, config.train.num_steps))
    self.d_tx = make_optimizer(config.optim, config.optim.d_lr, config.train.num_steps)
    self.batch_size = int(config.train.batch_size)
    self.grid_size = int(config.train.grid_size)
    self.phase_names = ['mle'] + (['d_pretrain'] if self.d_pretrain_steps else []) + ['adversarial']

  # -- nets -----------------------------------------------------------------------------------
  def log_probs(self, g_params, tokens, temperature=1.0):
    return self.generator.apply({'params': g_params}, tokens, temperature,
                                method=self.generator.log_probs)

  def sample_with(self, g_params, key, n: int, temperature=1.0):
    uniforms = jax.random.uniform(key, (self.seq_len, n))
    return self.generator.apply({'params': g_params}, uniforms, temperature,
                                method=self.generator.sample)

  def d_logits(self, d_params, tokens, key=None):
    """D's logits [N, 2] (fake, real); dropout on when a key is given (training)."""
    if key is None:
      return self.discriminator.apply({'params': d_params}, tokens, train=False)
    return self.discriminator.apply({'params': d_params}, tokens, train=True,
                                    rngs={'dropout': key})

  def p_real(self, d_params, tokens):
    return jax.nn.softmax(self.d_logits(d_params, tokens), axis=-1)[..., 1]

  def completions(self, rollout_params, samples, uniforms):
    """[R, T-1, B, T]: every proper prefix of `samples` [B, T] completed by the roll-out
    policy, once per roll-out; `uniforms` [R, T, T-1, B]. vmap over roll-outs, a lax.scan over
    time inside."""
    complete = lambda u: self.generator.apply({'params': rollout_params}, samples, u,
                                              method=self.generator.complete)
    return jax.vmap(complete)(uniforms)

  def rollout_rewards_from_uniforms(self, rollout_params, d_params, samples, uniforms):
    """Rewards [B, T] in [0, 1]: column t < T the mean over roll-outs of D's P(real) of the
    completed prefix of length t; column T D's P(real) of the sequence itself."""
    completed = self.completions(rollout_params, samples, uniforms)
    r, p, b, t = completed.shape
    # D over all roll-outs at once would hold [R * (T-1) * B, T, filters] activations: chunked.
    scored = jax.lax.map(lambda c: self.p_real(d_params, c.reshape(-1, t)),
                         completed.reshape(r // _D_SCORE_CHUNK, _D_SCORE_CHUNK * p * b, t))
    prefix_rewards = scored.reshape(r, p, b).mean(axis=0)            # [T-1, B]
    final = self.p_real(d_params, samples)                           # [B]
    return jnp.concatenate([prefix_rewards.T, final[:, None]], axis=1)

  def rollout_rewards(self, rollout_params, d_params, samples, key):
    uniforms = jax.random.uniform(key, (self.rollouts, self.seq_len, self.seq_len - 1,
                                        samples.shape[0]))
    return self.rollout_rewards_from_uniforms(rollout_params, d_params, samples, uniforms)

  def follow(self, rollout_params, g_params):
    """The roll-out policy after a G step: the embedding copied, the rest delayed."""
    rate = self.update_rate
    mixed = jax.tree.map(lambda r, g: rate * r + (1.0 - rate) * g, rollout_params, g_params)
    return dict(mixed, embedding=g_params['embedding'])

  # -- updates --------------------------------------------------------------------------------
  def d_loss(self, d_params, real, fake, key):
    tokens = jnp.concatenate([real, fake], axis=0)
    labels = jnp.concatenate([jnp.ones(real.shape[0], jnp.int32),
                              jnp.zeros(fake.shape[0], jnp.int32)])
    logits = self.d_logits(d_params, tokens, key)
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    output = d_params['output']
    l2 = 0.5 * (jnp.sum(output['kernel'] ** 2) + jnp.sum(output['bias'] ** 2))
    p = jax.nn.softmax(logits, axis=-1)[:, 1]
    n = real.shape[0]
    return cross_entropy + self.d_l2 * l2, {
        'd_loss': cross_entropy, 'd_real': p[:n].mean(), 'd_fake': p[n:].mean(),
        'd_accuracy': jnp.mean((p > 0.5) == (labels == 1))}

  def d_updates(self, d: Player, g_params, real_batches, key):
    """One D update per real batch [k, B, T], each against fresh samples of G."""
    def update(d, inputs):
      real, i = inputs
      sample_key, dropout_key = jax.random.split(jax.random.fold_in(key, i))
      fake = self.sample_with(g_params, sample_key, real.shape[0])
      grads, metrics = jax.grad(self.d_loss, has_aux=True)(d.params, real, fake, dropout_key)
      updates, opt_state = self.d_tx.update(grads, d.opt_state, d.params)
      return Player(optax.apply_updates(d.params, updates), {}, opt_state), metrics
    d, metrics = jax.lax.scan(update, d, (real_batches, jnp.arange(real_batches.shape[0])))
    return d, jax.tree.map(lambda m: m[-1], metrics)

  def pg_loss(self, g_params, samples, rewards):
    """REINFORCE: -sum_{b,t} r_bt log G(y_bt | y_b,<t), summed over batch and time as the
    reference does (its gradient norm is then clipped to g_grad_clip)."""
    log_p = self.log_probs(g_params, samples)
    rewards = jax.lax.stop_gradient(rewards)
    return -jnp.sum(log_p * rewards), {'g_sample_nll': -jnp.mean(log_p)}

  def g_update(self, g: Player, loss_fn):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
    updates, opt_state = self.g_tx.update(grads, g.opt_state, g.params)
    return Player(optax.apply_updates(g.params, updates), {}, opt_state), metrics

  # -- protocol -------------------------------------------------------------------------------
  def phases(self) -> List[Phase]:
    lengths = {'mle': self.mle_steps, 'd_pretrain': self.d_pretrain_steps, 'adversarial': None}
    return [Phase(name, lengths[name], max(1, self.adversarial_d_steps) if name == 'adversarial'
                  else 1) for name in self.phase_names]

  def init(self, key, example_batch) -> SeqGANState:
    tokens = example_batch['tokens'][0, :2]
    g_key, d_key = jax.random.split(key)
    g = self.generator.init(g_key, tokens)['params']
    d = self.discriminator.init(d_key, tokens)['params']
    return SeqGANState(step=jnp.zeros((), jnp.int32), g=Player(g, {}, self.g_tx.init(g)),
                       rollout=g, d=Player(d, {}, self.d_tx.init(d)))

  def enter_phase(self, state: SeqGANState, index: int, key) -> SeqGANState:
    del key
    if self.phase_names[index] != 'adversarial':
      return state
    # The roll-out policy starts as G; G's adversarial optimizer starts afresh.
    g = state.g.params
    return state.replace(g=Player(g, {}, self.g_tx.init(g)), rollout=g)

  def make_step(self, index: int = 0):
    name = self.phase_names[index]

    def mle_step(state: SeqGANState, batch, key):
      del key
      tokens = batch['tokens'][0]

      def loss_fn(params):
        nll = -jnp.mean(self.log_probs(params, tokens))
        return nll, {'g_nll': nll}
      g, metrics = self.g_update(state.g, loss_fn)
      return state.replace(step=state.step + 1, g=g), metrics

    def d_pretrain_step(state: SeqGANState, batch, key):
      d, metrics = self.d_updates(state.d, state.g.params, batch['tokens'], key)
      return state.replace(step=state.step + 1, d=d), metrics

    def adversarial_step(state: SeqGANState, batch, key):
      sample_key, rollout_key, d_key = jax.random.split(key, 3)
      samples = self.sample_with(state.g.params, sample_key, self.batch_size)
      if self.reward == 'constant':
        rewards = jnp.ones(samples.shape, jnp.float32)
      else:
        rewards = self.rollout_rewards(state.rollout, state.d.params, samples, rollout_key)

      g, metrics = self.g_update(state.g, lambda params: self.pg_loss(params, samples, rewards))
      metrics['reward'] = rewards.mean()
      rollout = self.follow(state.rollout, g.params)
      d = state.d
      if self.adversarial_d_steps:
        d, d_metrics = self.d_updates(d, g.params, batch['tokens'][:self.adversarial_d_steps],
                                      d_key)
        metrics.update(d_metrics)
      return SeqGANState(step=state.step + 1, g=g, rollout=rollout, d=d), metrics

    return {'mle': mle_step, 'd_pretrain': d_pretrain_step,
            'adversarial': adversarial_step}[name]

  # -- what evaluators and previews use ---------------------------------------------------------
  def sample(self, state: SeqGANState, key, n: int, temperature=1.0):
    """n sequences [n, T] of G at `temperature`."""
    return self.sample_with(state.g.params, key, n, temperature)

  def token_log_probs(self, state: SeqGANState, tokens, temperature=1.0):
    """log G(token_t | prefix) [N, T] under softmax(logits / temperature)."""
    return self.log_probs(state.g.params, tokens, temperature)

  def rewards(self, state: SeqGANState, samples, key):
    """The roll-out rewards [B, T] of sequences `samples` under the state's roll-out policy and D."""
    return self.rollout_rewards(state.rollout, state.d.params, samples, key)

  def functions(self) -> Dict:
    return {'sample': self.sample, 'token_log_probs': self.token_log_probs,
            'rewards': self.rewards}

  def previews(self, state: SeqGANState, preview_batch, key):
    """G's samples as tokens [N, T] (written as text, samples/step_<N>.txt)."""
    del preview_batch
    return {'samples': self.sample(state, key, self.grid_size)}
