"""Data sources by name (`config.data.source`), each owning its batch schema.

A source is built from the whole config and gives the loop and the trainers what they need:
  source = make_source(config)
  source.name, source.info             # info: image_shape (the shape of one item), num_classes,
                                       #   num_train, and what else the trainer may read
  source.example_batch(k, b=None)      # all-zero batch of k stacked batches of b examples
                                       #   (None: train.batch_size): what init traces
  source.make_batches(mesh)            # in memory (`batch_at` inside the compiled step) or
                                       #   streamed (`iterate`); see data/pipeline.py
  source.preview_batch(n)              # a fixed batch of the eval split, for previews
  source.eval_arrays(limit)            # the held-out split as host arrays, for evaluators
Sources:
  images   TFDS image datasets by `data.name`, the project's offline ones prepared on first use
           (data/images.py); batches {'image': [k, B, H, W, C] in [-1, 1], 'label': [k, B]}
  mixture  the 2-D Gaussian mixtures (data/mixtures.py); 'image' holds points [k, B, 2]
  oracle   sequences of SeqGAN's oracle LSTM, the oracle inside (data/oracle.py);
           batches {'tokens': int32 [k, B, T]}; `decode_tokens` turns previews into text
  text     sentences of real text, word-level (data/text.py): gensim's Lee corpus, a
           local file or a TFDS text dataset; the same batches
  image_to_image  two domains, paired or unpaired: TFDS (cycle_gan's trainA/trainB/testA/testB
           layout, or train/test with features a and b) or a folder (data/translation.py);
           batches {'a': [k, B, H, W, Ca], 'b': [k, B, H, W, Cb]} in [-1, 1]
A new source (image pairs, two unpaired domains, tokens) is a class registered here.
"""
from jaxgan.registry import Registry

SOURCES = Registry('data source')

from jaxgan.data.images import DatasetInfo, ImageDataset, load_dataset  # noqa: E402,F401
from jaxgan.data import mixtures  # noqa: E402,F401  (registers 'mixture')
from jaxgan.data import oracle, text  # noqa: E402,F401  (register 'oracle', 'text')
from jaxgan.data import translation  # noqa: E402,F401  (registers 'image_to_image')


def make_source(config):
  return SOURCES.get(config.data.source, 'data.source')(config)
