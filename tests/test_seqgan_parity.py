"""Numerical parity of jaxgan's SeqGAN with a common PyTorch port (benchmarks/torch_originals/
seqgan.py): with the same weights, G's logits, D's logits, the roll-out completions and rewards
(the same uniforms drive both samplers) and the policy-gradient loss agree; the roll-out update
too. float32 values to 1e-5 relative."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip(
    'torch', reason='PyTorch is the optional extra for parity tests: pip install -e ".[bench]"')

from benchmarks.torch_originals import seqgan as torch_seqgan  # noqa: E402
from jaxgan.data.tokens import TokenInfo  # noqa: E402
from jaxgan.trainers import make_trainer  # noqa: E402
from tests.test_seqgan import tiny_seqgan  # noqa: E402

torch.set_num_threads(1)
B, T, V = 8, 6, 40


@pytest.fixture(scope='module')
def pair():
  config = tiny_seqgan(vocab_size=V, seq_len=T)
  config.seqgan.rollouts = 3
  trainer = make_trainer(config, TokenInfo('test', (T,), 0, 0, V, T))
  state = trainer.init(jax.random.PRNGKey(0), {'tokens': jnp.zeros((1, B, T), jnp.int32)})
  # A roll-out policy and D that differ from their initial weights.
  noise = lambda tree, key: jax.tree.map(
      lambda w: w + 0.3 * jax.random.normal(key, w.shape), tree)
  state = state.replace(rollout=noise(state.rollout, jax.random.PRNGKey(1)),
                        d=state.d.replace(params=noise(state.d.params, jax.random.PRNGKey(2))))
  g, rollout, d = torch_seqgan.from_jax(trainer, state, trainer.update_rate)
  d.eval()
  samples = trainer.sample(state, jax.random.PRNGKey(3), B)
  return trainer, state, g, rollout, d, samples


def rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def test_generator_and_discriminator_logits_agree(pair):
  trainer, state, g, _, d, samples = pair
  x = torch.from_numpy(np.asarray(samples)).long()
  with torch.no_grad():
    assert rel(g(x).numpy(), trainer.generator.apply({'params': state.g.params}, samples)) < 1e-5
    assert rel(d(x).numpy(), trainer.d_logits(state.d.params, samples)) < 1e-5


def test_sampling_from_the_same_uniforms_draws_the_same_tokens(pair):
  trainer, state, g, _, _, _ = pair
  uniforms = jax.random.uniform(jax.random.PRNGKey(4), (T, B))
  want = trainer.generator.apply({'params': state.g.params}, uniforms,
                                 method=trainer.generator.sample)
  with torch.no_grad():
    got = g.sample(B, T, uniforms=torch.from_numpy(np.asarray(uniforms)))
  np.testing.assert_array_equal(got.numpy(), np.asarray(want))


def test_rollout_rewards_agree_given_the_same_uniforms(pair):
  trainer, state, _, rollout, d, samples = pair
  uniforms = jax.random.uniform(jax.random.PRNGKey(5), (3, T, T - 1, B))
  want = trainer.rollout_rewards_from_uniforms(state.rollout, state.d.params, samples, uniforms)
  got = rollout.get_reward(torch.from_numpy(np.asarray(samples)).long(), 3, d,
                           torch.from_numpy(np.asarray(uniforms)))
  assert got.shape == (B, T)
  assert rel(got, want) < 1e-5


def test_policy_gradient_loss_and_rollout_update_agree(pair):
  trainer, state, g, rollout, _, samples = pair
  rewards = np.asarray(jax.random.uniform(jax.random.PRNGKey(6), (B, T)))
  want, _ = trainer.pg_loss(state.g.params, samples, jnp.asarray(rewards))
  got = torch_seqgan.pg_loss(g, torch.from_numpy(np.asarray(samples)).long(), rewards)
  assert rel(got.item(), want) < 1e-5
  rollout.update_params()
  followed = trainer.follow(state.rollout, state.g.params)
  expected = torch_seqgan.Generator(V, trainer.generator.embed_dim, trainer.generator.hidden_dim)
  torch_seqgan.load_generator(expected, followed)
  for (name, a), (_, b) in zip(rollout.own_model.named_parameters(), expected.named_parameters()):
    assert rel(a.detach().numpy(), b.detach().numpy()) < 1e-5, name
