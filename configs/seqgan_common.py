"""Defaults of the SeqGAN family (jaxgan/trainers/seqgan.py), on top of configs/common.py: the
reference's choices (LantaoYu/SeqGAN, ANCHORS.md). A SeqGAN config carries no image fields of
the other families."""
import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = common.get_config()
  config.trainer = 'seqgan'

  config.data.source = 'oracle'
  config.data.name = 'oracle_lstm'
  # The oracle (jaxgan/data/oracle.py): weights from N(0, init_std), its own seed, so every
  # run seed faces the same oracle and the same training sequences.
  config.oracle = ml_collections.ConfigDict()
  config.oracle.vocab_size = 5_000
  config.oracle.seq_len = 20
  config.oracle.embed_dim = 32
  config.oracle.hidden_dim = 32
  config.oracle.init_std = 1.0
  config.oracle.num_train = 10_000
  config.oracle.num_eval = 10_000
  config.oracle.seed = 88            # the reference's seed

  config.model = ml_collections.ConfigDict()
  config.model.g_embed_dim = 32
  config.model.g_hidden_dim = 32
  config.model.g_init_std = 0.1
  config.model.d_embed_dim = 64
  config.model.d_filter_sizes = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
  config.model.d_num_filters = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
  config.model.d_dropout_keep = 0.75

  config.seqgan = ml_collections.ConfigDict()
  # Phase lengths in steps (a step is one G update in mle, one D update in d_pretrain, one G
  # policy-gradient step and adversarial_d_steps D updates in adversarial, which runs until
  # train.num_steps). With 10,000 sequences and batch 64 an epoch is 156 batches.
  config.seqgan.mle_steps = 18_720           # 120 epochs
  config.seqgan.d_pretrain_steps = 23_400    # 50 rounds x 3 epochs x 156 (64 real + 64 fake each)
  config.seqgan.adversarial_d_steps = 2_340  # per G step: 5 rounds x 3 epochs x 156
  config.seqgan.rollouts = 16                # Monte Carlo completions per prefix
  config.seqgan.rollout_update_rate = 0.8    # roll-out policy = 0.8 * itself + 0.2 * G after each G step
  config.seqgan.reward = 'discriminator'     # 'discriminator' | 'constant' (every reward 1: the control)
  config.seqgan.d_l2 = 0.2                   # L2 weight of D's output layer
  config.seqgan.g_grad_clip = 5.0            # global norm

  config.optim = common.optim_group(g_lr=0.01, d_lr=1e-4)

  config.train.batch_size = 64
  config.eval.metrics = ('oracle_nll',)
  config.eval.num_samples = 10_000   # G's samples scored by the oracle (the reference: 10,000)
  config.eval.bleu_samples = 200     # 'bleu' (real text): G's sentences scored
  config.eval.bleu_references = 500  # held-out sentences they are scored against
  return config
