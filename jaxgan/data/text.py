"""Real text for the sequence models: a word-level tokenizer and the 'text' data source.

Where the text comes from (`text.corpus`):
  lee        gensim's Lee background corpus (lee_background.cor: 300 news documents, about
             60,000 words), shipped inside the gensim package: offline, nothing to download
  file       a local UTF-8 text file, `text.path`
  tfds       a TFDS text dataset by `data.name` (split `data.train_split`, feature
             `text.tfds_feature`), read through tfds.data_source (prepared beforehand)
Each line is cut into sentences (after . ! ?), each sentence into lower-cased words and
punctuation marks (`tokenize`). The vocabulary is the `text.vocab_size` - 2 most frequent words
of the training sentences plus '<eos>' (id 0: the end and the padding, and, as the generator's
first input, the start) and '<unk>' (id 1). A sentence becomes `text.seq_len` ids: its words,
cut at seq_len - 1, then <eos> to the end. Every `text.eval_every`-th sentence is held out
(the eval split: BLEU's references); the rest are the training sentences.
"""
import collections
import os
import re
from typing import List

import numpy as np

from jaxgan.data import SOURCES, tokens
from jaxgan.errors import DataError

EOS, UNK = 0, 1
_WORD = re.compile(r"[\w']+|[^\w\s]")
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+')
CORPORA = ('lee', 'file', 'tfds')


def tokenize(text: str) -> List[str]:
  """Lower-cased words (letters, digits, apostrophes) and punctuation marks."""
  return _WORD.findall(text.lower())


def sentences_of(lines) -> List[List[str]]:
  out = []
  for line in lines:
    for sentence in _SENTENCE_END.split(line.strip()):
      words = tokenize(sentence)
      if words:
        out.append(words)
  return out


def lee_corpus_path() -> str:
  try:
    from gensim.test.utils import datapath
  except ImportError:
    raise DataError("text.corpus='lee' reads gensim's Lee corpus: pip install gensim (or set "
                    "text.corpus=file and text.path to a text file)") from None
  return datapath('lee_background.cor')


def _read_lines(config) -> List[str]:
  corpus = config.text.corpus
  if corpus not in CORPORA:
    raise DataError(f'text.corpus must be one of {", ".join(CORPORA)}; got {corpus!r}')
  if corpus in ('lee', 'file'):
    path = lee_corpus_path() if corpus == 'lee' else os.path.expanduser(config.text.path)
    if not path or not os.path.isfile(path):
      raise DataError(f'text file {path!r} does not exist; set text.path to a UTF-8 text file')
    with open(path, encoding='utf-8', errors='replace') as f:
      return f.read().splitlines()
  import tensorflow_datasets as tfds
  from jaxgan.data.images import data_dir_of
  try:
    source = tfds.data_source(config.data.name, split=config.data.train_split,
                              data_dir=data_dir_of(config.data))
  except Exception as e:  # a missing or unprepared dataset: the user's to fix
    raise DataError(f'cannot read TFDS text dataset {config.data.name!r}: '
                    f'{str(e).splitlines()[0][:200]}; prepare it first (tfds build)') from None
  feature = config.text.tfds_feature
  lines = []
  for i in range(min(len(source), int(config.text.max_lines))):
    value = source[i][feature]
    lines.append(value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value))
  return lines


class Vocabulary:

  def __init__(self, sentences: List[List[str]], size: int):
    counts = collections.Counter(word for sentence in sentences for word in sentence)
    self.words = ['<eos>', '<unk>'] + [w for w, _ in counts.most_common(max(0, size - 2))]
    self.index = {w: i for i, w in enumerate(self.words)}

  def encode(self, sentence: List[str], seq_len: int) -> np.ndarray:
    ids = [self.index.get(w, UNK) for w in sentence[:seq_len - 1]]
    return np.array(ids + [EOS] * (seq_len - len(ids)), np.int32)

  def __len__(self):
    return len(self.words)


@SOURCES.register('text')
class TextSource(tokens.TokenSource):
  """Sentences of real text as {'tokens': [k, B, T]}, in memory."""

  def __init__(self, config):
    self.config = config
    text = config.text
    self.seq_len = int(text.seq_len)
    if self.seq_len < 2:
      raise DataError(f'text.seq_len must be >= 2, got {self.seq_len}')
    sentences = sentences_of(_read_lines(config))
    every = int(text.eval_every)
    held_out = [s for i, s in enumerate(sentences) if every and i % every == every - 1]
    train = [s for i, s in enumerate(sentences) if not (every and i % every == every - 1)]
    if not train:
      raise DataError(f'the text of text.corpus={text.corpus!r} holds no sentences')
    self.vocabulary = Vocabulary(train, int(text.vocab_size))
    encode = lambda group: np.stack([self.vocabulary.encode(s, self.seq_len) for s in group]) \
        if group else np.zeros((0, self.seq_len), np.int32)
    self.train_tokens, self.eval_tokens = encode(train), encode(held_out)
    self.name = config.data.name
    self.info = tokens.TokenInfo(self.name, (self.seq_len,), 0, len(train), len(self.vocabulary),
                                 self.seq_len)

  def words_of(self, sequences) -> List[List[str]]:
    """Token ids [N, T] -> N word lists, each cut at its first <eos>."""
    return [line.split() for line in self.decode_tokens(sequences)]

  def decode_tokens(self, sequences) -> List[str]:
    return tokens.decode(sequences, self.vocabulary.words, end_token=EOS)
