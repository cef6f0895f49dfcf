"""SeqGAN on real text (jaxgan/data/text.py, jaxgan/metrics/bleu.py): the tokenizer and the
sentences' ids, BLEU and Self-BLEU on cases with known answers, the evaluator's training-text
reference point, and a short run on a local text file writing text samples and BLEU to
metrics.jsonl."""
import json

import numpy as np
import pytest

pytest.importorskip('nltk', reason='BLEU uses nltk: pip install nltk')

from configs import seqgan_text  # noqa: E402
from jaxgan import config as config_lib  # noqa: E402
from jaxgan import train  # noqa: E402
from jaxgan.data import make_source  # noqa: E402
from jaxgan.data.text import EOS, UNK, sentences_of, tokenize  # noqa: E402
from jaxgan.metrics.bleu import bleu_scores  # noqa: E402

TEXT = ("The cat sat on the mat. The dog sat on the log! Did the cat see the dog? "
        "The bird sang.\n") * 6


def tiny_text(path, **fields):
  config = seqgan_text.get_config()
  config.text.update(corpus='file', path=str(path), seq_len=6, vocab_size=12, eval_every=4)
  config.model.update(g_embed_dim=8, g_hidden_dim=8, d_embed_dim=8,
                      d_filter_sizes=(1, 2, 3), d_num_filters=(4, 4, 4))
  config.seqgan.update(mle_steps=2, d_pretrain_steps=1, adversarial_d_steps=1, rollouts=2)
  config.train.update(batch_size=4, num_steps=4, log_every_steps=2, sample_every_steps=4,
                      checkpoint_every_steps=4, grid_size=5, progress_bar='no')
  config.eval.update(every_steps=4, bleu_samples=8, bleu_references=20)
  for key, value in fields.items():
    group, name = key.split('.')
    config[group][name] = value
  config_lib.validate(config)
  return config


def test_tokenizer_splits_words_and_punctuation_and_sentences():
  assert tokenize("It's 4:00pm, Sydney!") == ["it's", '4', ':', '00pm', ',', 'sydney', '!']
  assert sentences_of(['One two. Three four! Five?', '', 'Six']) == [
      ['one', 'two', '.'], ['three', 'four', '!'], ['five', '?'], ['six']]


def test_text_source_encodes_sentences_with_eos_and_unk(tmp_path):
  path = tmp_path / 'corpus.txt'
  path.write_text(TEXT)
  source = make_source(tiny_text(path))
  words = source.vocabulary.words
  assert words[EOS] == '<eos>' and words[UNK] == '<unk>' and len(words) == 12
  assert words[2] == 'the'                                 # the most frequent word first
  assert source.train_tokens.shape[1] == 6 and len(source.eval_tokens) == 24 // 4
  assert len(source.train_tokens) == 24 - 6
  first = source.train_tokens[0]                           # "the cat sat on the mat ." cut at 5
  assert source.decode_tokens(first[None]) == ['the cat sat on the']
  assert first[-1] == EOS
  bird = source.vocabulary.encode(['the', 'bird', 'sang', '.'], 6)
  assert list(bird[4:]) == [EOS, EOS]


def test_bleu_is_one_for_a_copy_and_self_bleu_rises_with_repetition():
  refs = [['the', 'cat', 'sat', 'on', 'the', 'mat'], ['a', 'dog', 'ran', 'in', 'the', 'park']]
  assert all(v == pytest.approx(1.0) for v in bleu_scores([refs[0]], refs).values())
  unrelated = bleu_scores([['green', 'ideas', 'sleep', 'furiously', 'now', 'here']], refs)
  assert all(v < 0.1 for v in unrelated.values())
  same = [refs[0]] * 3
  varied = [refs[0], refs[1], ['one', 'more', 'sentence', 'of', 'words', 'here']]
  assert bleu_scores(same, same, exclude_self=True)[4] == pytest.approx(1.0)
  assert bleu_scores(varied, varied, exclude_self=True)[4] < 0.5


def test_a_text_run_writes_word_samples_and_bleu(tmp_path):
  path = tmp_path / 'corpus.txt'
  path.write_text(TEXT)
  workdir = tmp_path / 'run'
  train.run(tiny_text(path), str(workdir))
  lines = (workdir / 'samples' / 'step_4.txt').read_text().splitlines()
  assert len(lines) == 5
  vocabulary = set(make_source(tiny_text(path)).vocabulary.words)
  assert all(set(line.split()) <= vocabulary for line in lines)
  evals = [r for r in map(json.loads, open(workdir / 'metrics.jsonl')) if 'bleu_2' in r]
  assert [r['step'] for r in evals] == [4]
  for n in (2, 3, 4, 5):
    assert 0 <= evals[0][f'bleu_{n}'] <= 1 and 0 <= evals[0][f'self_bleu_{n}'] <= 1
  assert np.isfinite(evals[0]['bleu_2'])


def test_training_text_reference_point_scores_real_sentences_like_samples(tmp_path):
  from jaxgan.metrics.bleu import BLEU
  from jaxgan.parallel import make_mesh
  path = tmp_path / 'corpus.txt'
  # Every third sentence held out: both splits hold both sentences, so real training text
  # matches the held-out text exactly (BLEU 1) and, with two sentences, repeats itself.
  path.write_text('The cat sat on the mat. The dog ran to the log.\n' * 9)
  config = tiny_text(path, **{'text.eval_every': 3, 'text.seq_len': 8})
  source = make_source(config)
  points = BLEU(config, source, {'sample': lambda *args: None}, make_mesh()).reference_points()
  assert points['training_text']['bleu_4'] == pytest.approx(1.0)
  assert points['training_text']['self_bleu_4'] == pytest.approx(1.0)
  # Held out every second sentence instead: training text is all cats, held-out all dogs.
  config = tiny_text(path, **{'text.eval_every': 2, 'text.seq_len': 8})
  source = make_source(config)
  points = BLEU(config, source, {'sample': lambda *args: None}, make_mesh()).reference_points()
  assert points['training_text']['bleu_4'] < 0.5
