"""SeqGAN as a common PyTorch port writes it (ZiJianZhao/SeqGAN-PyTorch's layout on the
reference's semantics, LantaoYu/SeqGAN): an nn.LSTM generator, a Conv2d-per-width CNN
discriminator with a highway layer, and the roll-out reward as a Python loop over roll-outs
and prefix lengths, one `sample` call (a Python loop over time) per prefix.

Semantics follow the reference: the first input is token 0, a prefix of length l is fed as
given and the rest drawn, the reward of the whole sequence is D(Y), P(real) is softmax[:, 1].
`draw` samples with torch.multinomial, or, given uniforms, by the inverse CDF (what
jaxgan/architectures/seqgan.py does), so both draw the same tokens from the same numbers.

`from_jax(trainer, state)` loads jaxgan's G, roll-out policy and D weights (tests/
test_seqgan_parity.py); `adversarial_iteration` is one iteration of the reference's
adversarial loop (the speed row of benchmarks/seqgan_speed.py).
"""
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def draw(logits, uniform=None):
  """One token per row of logits [N, V]: multinomial, or inverse CDF with uniforms [N]."""
  probs = F.softmax(logits, dim=-1)
  if uniform is None:
    return torch.multinomial(probs, 1)[:, 0]
  cdf = torch.cumsum(probs, dim=-1)
  index = (cdf < uniform[:, None] * cdf[:, -1:]).sum(-1)
  return index.clamp(max=logits.shape[-1] - 1)


class Generator(nn.Module):

  def __init__(self, vocab_size, embed_dim, hidden_dim, start_token=0):
    super().__init__()
    self.start_token = start_token
    self.emb = nn.Embedding(vocab_size, embed_dim)
    self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
    self.lin = nn.Linear(hidden_dim, vocab_size)

  def step(self, token, state):
    out, state = self.lstm(self.emb(token)[:, None], state)
    return self.lin(out[:, 0]), state

  def forward(self, x):
    """Teacher-forced logits [B, T, V] of x [B, T]."""
    start = torch.full_like(x[:, :1], self.start_token)
    out, _ = self.lstm(self.emb(torch.cat([start, x[:, :-1]], 1)))
    return self.lin(out)

  def sample(self, batch_size, seq_len, given=None, uniforms=None):
    """[B, T]: the tokens of `given` [B, l] kept, the rest drawn (uniforms [T, B] or None)."""
    token = torch.full((batch_size,), self.start_token, dtype=torch.long)
    state, out = None, []
    given_len = 0 if given is None else given.shape[1]
    for t in range(seq_len):
      logits, state = self.step(token, state)
      if t < given_len:
        token = given[:, t]
      else:
        token = draw(logits, None if uniforms is None else uniforms[t])
      out.append(token)
    return torch.stack(out, 1)


class Highway(nn.Module):

  def __init__(self, size):
    super().__init__()
    self.transform = nn.Linear(size, size)
    self.gate = nn.Linear(size, size)

  def forward(self, x):
    t = torch.sigmoid(self.gate(x))
    return t * F.relu(self.transform(x)) + (1 - t) * x


class Discriminator(nn.Module):

  def __init__(self, vocab_size, embed_dim, filter_sizes, num_filters, dropout_keep=0.75):
    super().__init__()
    self.emb = nn.Embedding(vocab_size, embed_dim)
    self.convs = nn.ModuleList([nn.Conv2d(1, n, (f, embed_dim))
                                for f, n in zip(filter_sizes, num_filters)])
    self.highway = Highway(sum(num_filters))
    self.dropout = nn.Dropout(1 - dropout_keep)
    self.lin = nn.Linear(sum(num_filters), 2)

  def forward(self, x):
    emb = self.emb(x)[:, None]                                        # [B, 1, T, E]
    pools = [F.relu(conv(emb)).squeeze(3).max(2)[0] for conv in self.convs]
    return self.lin(self.dropout(self.highway(torch.cat(pools, 1))))


class Rollout:
  """The roll-out policy: a copy of G updated with a delay (embedding copied)."""

  def __init__(self, generator, update_rate):
    self.ori_model = generator
    self.own_model = copy.deepcopy(generator)
    self.update_rate = update_rate

  @torch.no_grad()
  def get_reward(self, x, num, discriminator, uniforms=None):
    """[B, T] rewards; uniforms [num, T, T-1, B] (jaxgan's layout) or None (multinomial)."""
    batch_size, seq_len = x.shape
    rewards = np.zeros((seq_len, batch_size))
    for i in range(num):
      for given in range(1, seq_len):
        u = None if uniforms is None else uniforms[i, :, given - 1]
        samples = self.own_model.sample(batch_size, seq_len, x[:, :given], u)
        rewards[given - 1] += F.softmax(discriminator(samples), -1)[:, 1].numpy()
      rewards[seq_len - 1] += F.softmax(discriminator(x), -1)[:, 1].numpy()
    return rewards.T / num

  def update_params(self):
    own = dict(self.own_model.named_parameters())
    for name, param in self.ori_model.named_parameters():
      if name.startswith('emb'):
        own[name].data = param.data.clone()
      else:
        own[name].data = self.update_rate * own[name].data + (1 - self.update_rate) * param.data


def pg_loss(generator, samples, rewards):
  """-sum r_t log G(y_t | y_<t) (the reference sums over batch and time)."""
  log_p = F.log_softmax(generator(samples), -1).gather(2, samples[..., None])[..., 0]
  return -(log_p * torch.as_tensor(rewards, dtype=log_p.dtype)).sum()


def adversarial_iteration(generator, rollout, discriminator, g_opt, d_opt, real, num_rollouts,
                          d_steps, grad_clip=5.0):
  """One iteration of the reference's adversarial loop: sample, roll-out rewards, one policy-
  gradient step, the roll-out update, then `d_steps` D updates on real batches [d, B, T]
  against fresh samples."""
  batch_size, seq_len = real.shape[1:]
  with torch.no_grad():
    samples = generator.sample(batch_size, seq_len)
  discriminator.eval()
  rewards = rollout.get_reward(samples, num_rollouts, discriminator)
  g_opt.zero_grad()
  pg_loss(generator, samples, rewards).backward()
  nn.utils.clip_grad_norm_(generator.parameters(), grad_clip)
  g_opt.step()
  rollout.update_params()
  discriminator.train()
  for k in range(d_steps):
    with torch.no_grad():
      fake = generator.sample(batch_size, seq_len)
    x = torch.cat([real[k], fake])
    y = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)]).long()
    d_opt.zero_grad()
    F.cross_entropy(discriminator(x), y).backward()
    d_opt.step()


# -- weights from jaxgan -------------------------------------------------------------------------

def _t(x):
  return torch.from_numpy(np.array(x, np.float32))


def load_generator(generator: Generator, params) -> None:
  """jaxgan's SequenceLSTM parameters (gates i, f, o, candidate fused) into nn.LSTM (gates i,
  f, g, o; one bias, the other zero)."""
  def reorder(w):   # last axis [i, f, o, c] -> [i, f, c, o]
    i, f, o, c = np.split(np.asarray(w), 4, axis=-1)
    return np.concatenate([i, f, c, o], axis=-1)
  with torch.no_grad():
    generator.emb.weight.copy_(_t(params['embedding']))
    generator.lstm.weight_ih_l0.copy_(_t(reorder(params['w_input']).T))
    generator.lstm.weight_hh_l0.copy_(_t(reorder(params['w_hidden']).T))
    generator.lstm.bias_ih_l0.copy_(_t(reorder(params['bias'])))
    generator.lstm.bias_hh_l0.zero_()
    generator.lin.weight.copy_(_t(np.asarray(params['w_out']).T))
    generator.lin.bias.copy_(_t(params['b_out']))


def load_discriminator(discriminator: Discriminator, params, filter_sizes) -> None:
  with torch.no_grad():
    discriminator.emb.weight.copy_(_t(params['embedding']))
    for conv, width in zip(discriminator.convs, filter_sizes):
      p = params[f'conv_{width}']
      conv.weight.copy_(_t(np.transpose(np.asarray(p['kernel']), (2, 0, 1))[:, None]))
      conv.bias.copy_(_t(p['bias']))
    for name in ('transform', 'gate'):
      layer, p = getattr(discriminator.highway, name), params['highway'][name]
      layer.weight.copy_(_t(np.asarray(p['kernel']).T))
      layer.bias.copy_(_t(p['bias']))
    discriminator.lin.weight.copy_(_t(np.asarray(params['output']['kernel']).T))
    discriminator.lin.bias.copy_(_t(params['output']['bias']))


def from_jax(trainer, state, update_rate=0.8):
  """(generator, rollout, discriminator) holding a jaxgan SeqGAN state's weights."""
  g = Generator(trainer.vocab_size, trainer.generator.embed_dim, trainer.generator.hidden_dim)
  load_generator(g, state.g.params)
  rollout = Rollout(g, update_rate)
  load_generator(rollout.own_model, state.rollout)
  d_net = trainer.discriminator
  d = Discriminator(trainer.vocab_size, d_net.embed_dim, d_net.filter_sizes, d_net.num_filters,
                    d_net.dropout_keep)
  load_discriminator(d, state.d.params, d_net.filter_sizes)
  return g, rollout, d
