"""SeqGAN on real text: gensim's Lee background corpus (300 news documents, about 60,000 words,
shipped inside the gensim package: offline), word level, sentences cut or padded to 20 tokens,
the 5,000 most frequent words; every tenth sentence held out for BLEU. BLEU-2..5 against the
held-out sentences and Self-BLEU (nltk, smoothing method 1: Texygen's protocol) every 500
steps; samples as text, samples/step_<N>.txt. Nets and phases as the oracle's (configs/
seqgan.py) with phase lengths for the corpus's 2,358 training sentences (36 batches an epoch):
MLE 80 epochs (2,880 steps), D pre-training 300 updates, adversarial 100 iterations of 15 D
updates.
A local file: --config.text.corpus=file --config.text.path=FILE; a prepared TFDS text dataset:
--config.text.corpus=tfds --config.data.name=NAME --config.text.tfds_feature=text.
"""
import ml_collections

from configs import seqgan_common


def get_config():
  config = seqgan_common.get_config()
  config.data.source = 'text'
  config.data.name = 'lee_background'
  del config['oracle']
  config.text = ml_collections.ConfigDict()
  config.text.corpus = 'lee'        # 'lee' | 'file' | 'tfds'
  config.text.path = ''             # corpus=file: a UTF-8 text file
  config.text.tfds_feature = 'text' # corpus=tfds: the feature holding the text
  config.text.max_lines = 1_000_000 # corpus=tfds: records read
  config.text.seq_len = 20
  config.text.vocab_size = 5_000
  config.text.eval_every = 10       # every tenth sentence is held out
  config.seqgan.mle_steps = 2_880
  config.seqgan.d_pretrain_steps = 300
  config.seqgan.adversarial_d_steps = 15
  config.train.num_steps = 2_880 + 300 + 100
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 500
  config.train.checkpoint_every_steps = 500
  config.eval.metrics = ('bleu',)
  config.eval.every_steps = 500
  return config
