"""SeqGAN (jaxgan/trainers/seqgan.py) on the oracle source: roll-out rewards, the policy
gradient, NLL-oracle against a direct computation, and the run a user starts (text samples,
NLL-oracle in metrics.jsonl, exact resume across both phase boundaries)."""
import itertools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import seqgan as seqgan_config
from jaxgan import config as config_lib
from jaxgan import train
from jaxgan.data import make_source
from jaxgan.metrics.oracle import OracleNLL
from jaxgan.parallel import make_mesh
from jaxgan.trainers import make_trainer
from tests.conftest import config_overrides, launch, read_checkpoint

MLE_STEPS, D_PRETRAIN_STEPS, NUM_STEPS = 3, 2, 8


def tiny_seqgan(vocab_size=50, seq_len=8, **fields):
  """configs/seqgan.py shrunk to run in seconds on CPU."""
  config = seqgan_config.get_config()
  config.oracle.update(vocab_size=vocab_size, seq_len=seq_len, embed_dim=8, hidden_dim=8,
                       num_train=256, num_eval=128)
  config.model.update(g_embed_dim=8, g_hidden_dim=8, d_embed_dim=8,
                      d_filter_sizes=(1, 2, 3), d_num_filters=(4, 4, 4))
  config.seqgan.update(mle_steps=MLE_STEPS, d_pretrain_steps=D_PRETRAIN_STEPS,
                       adversarial_d_steps=2, rollouts=4)
  config.train.update(batch_size=16, num_steps=NUM_STEPS, log_every_steps=2,
                      sample_every_steps=4, checkpoint_every_steps=4, grid_size=6,
                      progress_bar='no')
  config.eval.update(every_steps=4, num_samples=64, max_real_samples=64)
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  config_lib.validate(config)
  return config


@pytest.fixture(scope='module')
def tiny():
  config = tiny_seqgan()
  source = make_source(config)
  trainer = make_trainer(config, source.info)
  state = trainer.init(jax.random.PRNGKey(0), source.example_batch(1))
  # A D away from its initial weights (larger ones), so rewards vary between sequences.
  d_params = jax.tree.map(lambda w: 3.0 * w, state.d.params)
  return config, source, trainer, state.replace(d=state.d.replace(params=d_params))


def test_rollout_rewards_have_the_right_shape_lie_in_0_1_and_end_with_d_of_the_sequence(tiny):
  _, _, trainer, state = tiny
  samples = trainer.sample(state, jax.random.PRNGKey(1), 16)
  rewards = np.asarray(jax.jit(trainer.rewards)(state, samples, jax.random.PRNGKey(2)))
  assert rewards.shape == (16, 8)
  assert np.all((rewards >= 0) & (rewards <= 1))
  np.testing.assert_allclose(rewards[:, -1], np.asarray(trainer.p_real(state.d.params, samples)),
                             rtol=1e-6)
  assert np.std(rewards) > 0   # the prefixes' rewards differ (they average over completions)


def test_completions_keep_each_prefix_and_draw_the_rest(tiny):
  _, _, trainer, state = tiny
  samples = trainer.sample(state, jax.random.PRNGKey(1), 16)
  uniforms = jax.random.uniform(jax.random.PRNGKey(3), (4, 8, 7, 16))
  completed = np.asarray(trainer.completions(state.rollout, samples, uniforms))
  assert completed.shape == (4, 7, 16, 8)
  for t in range(1, 8):
    np.testing.assert_array_equal(completed[:, t - 1, :, :t],
                                  np.broadcast_to(np.asarray(samples)[:, :t], (4, 16, t)))
  # The drawn tails differ between roll-outs (the randomness the average is over).
  assert (completed[0, 0, :, 1:] != completed[1, 0, :, 1:]).any()


def test_raising_one_sequences_reward_raises_its_log_probability_after_one_step(tiny):
  _, _, trainer, state = tiny
  samples = trainer.sample(state, jax.random.PRNGKey(5), 16)

  @jax.jit
  def updated_log_p(rewards):
    g, _ = trainer.g_update(state.g, lambda p: trainer.pg_loss(p, samples, rewards))
    return trainer.log_probs(g.params, samples).sum(-1)
  log_p_after = lambda rewards: np.asarray(updated_log_p(rewards))

  base = jnp.full((16, 8), 0.5)
  raised = base.at[3].set(1.0)
  before = np.asarray(trainer.log_probs(state.g.params, samples).sum(-1))
  only = jnp.zeros((16, 8)).at[3].set(1.0)
  assert log_p_after(only)[3] > before[3]                 # rewarded alone, it becomes likelier
  assert log_p_after(raised)[3] > log_p_after(base)[3]    # more reward, likelier than otherwise


def _lstm_log_probs_numpy(params, tokens, start_token=0):
  """The reference's LSTM, written out in numpy: log p(token_t | prefix) [N, T]."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  n, length = tokens.shape
  hidden = p['w_hidden'].shape[0]
  h, c = np.zeros((n, hidden)), np.zeros((n, hidden))
  sigmoid = lambda x: 1 / (1 + np.exp(-x))
  previous = np.full(n, start_token)
  out = np.zeros((n, length))
  for t in range(length):
    z = p['embedding'][previous] @ p['w_input'] + h @ p['w_hidden'] + p['bias']
    i, f, o, g = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    logits = h @ p['w_out'] + p['b_out']
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    out[:, t] = log_softmax[np.arange(n), tokens[:, t]]
    previous = tokens[:, t]
  return out


def test_nll_oracle_equals_a_direct_computation_on_a_tiny_oracle():
  config = tiny_seqgan(vocab_size=3, seq_len=3, **{'model.d_filter_sizes': (1, 2),
                                                   'model.d_num_filters': (2, 2)})
  config.eval.num_samples = 1000
  source = make_source(config)
  trainer = make_trainer(config, source.info)
  state = trainer.init(jax.random.PRNGKey(0), source.example_batch(1))
  # The oracle's probabilities of all 27 sequences, computed directly, sum to one.
  every = np.array(list(itertools.product(range(3), repeat=3)))
  exact = np.exp(_lstm_log_probs_numpy(source.params, every).sum(-1))
  assert exact.sum() == pytest.approx(1.0, abs=1e-6)
  np.testing.assert_allclose(np.asarray(source.oracle_log_probs(jnp.asarray(every))),
                             _lstm_log_probs_numpy(source.params, every), atol=1e-5)
  # Its training data follow those probabilities (the sampler draws from the model).
  counts = np.array([np.all(source.train_tokens == s, axis=1).sum() for s in every])
  expected = exact * len(source.train_tokens)
  assert np.abs(counts - expected).max() < 5 * np.sqrt(expected.max()) + 3
  evaluator = OracleNLL(config, source, trainer.functions(), make_mesh())
  results = evaluator(state)
  samples = evaluator.samples(state)
  assert samples.shape == (1000, 3)
  want_oracle = -_lstm_log_probs_numpy(source.params, samples).mean()
  want_test = -_lstm_log_probs_numpy(state.g.params, source.eval_tokens[:64]).mean()
  assert results['nll_oracle'] == pytest.approx(want_oracle, rel=1e-5)
  assert results['nll_test'] == pytest.approx(want_test, rel=1e-5)
  # The floor: the oracle's NLL of its own held-out data.
  floor = evaluator.reference_points()['oracle']['nll_oracle']
  want_floor = -_lstm_log_probs_numpy(source.params, source.eval_tokens[:64]).mean()
  assert floor == pytest.approx(want_floor, rel=1e-5)


def test_a_run_writes_text_samples_and_nll_oracle_and_resumes_bit_exact_across_phases(tmp_path):
  config = tiny_seqgan()
  straight = tmp_path / 'straight'
  result = launch(['--config=configs/seqgan.py', f'--workdir={straight}'] +
                  config_overrides(config))
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'step 3: phase d_pretrain' in result.stdout and 'step 5: phase adversarial' in result.stdout
  samples = (straight / 'samples' / 'step_8.txt').read_text().splitlines()
  assert len(samples) == 6 and all(len(line.split()) == 8 for line in samples)
  records = [json.loads(line) for line in open(straight / 'metrics.jsonl')]
  evals = [r for r in records if 'nll_oracle' in r]
  assert [r['step'] for r in evals] == [4, 8]
  assert all(0 < r['nll_oracle'] < 10 and 0 < r['nll_test'] < 10 for r in evals)
  assert any('g_nll' in r for r in records) and any('reward' in r for r in records)

  # Stopped at the end of mle (3) and of d_pretrain (5), resumed each time.
  config.eval.every_steps = 0
  config.train.checkpoint_every_steps = 1
  resumed = str(tmp_path / 'resumed')
  for stop in (MLE_STEPS, MLE_STEPS + D_PRETRAIN_STEPS, NUM_STEPS):
    config.train.num_steps = stop
    train.run(config, resumed)
  want = read_checkpoint(str(straight / 'checkpoints'), NUM_STEPS)
  got = read_checkpoint(os.path.join(resumed, 'checkpoints'), NUM_STEPS)
  assert want.keys() == got.keys() and any('rollout' in name for name in want)
  for name in want:
    assert np.array_equal(want[name], got[name]), name


def test_seqgan_config_errors_are_one_sentence():
  from jaxgan.errors import ConfigError
  for field, value, message in (
      ('seqgan.reward', 'bleu', 'seqgan.reward must be one of discriminator, constant'),
      ('model.d_filter_sizes', (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 30), 'longer than the sequences'),
      ('model.d_num_filters', (4, 4), 'must have the same length'),
      ('seqgan.mle_steps', 0, 'seqgan.mle_steps must be >= 1')):
    config = seqgan_config.get_config()
    config_lib.apply_overrides(config, [f'{field}={value}'])
    with pytest.raises(ConfigError, match=message):
      config_lib.validate(config)
