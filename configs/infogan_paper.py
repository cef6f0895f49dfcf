"""InfoGAN as the paper trains it on MNIST (Chen et al. 2016, Appendix C.1; the released
openai/InfoGAN `launchers/run_mnist_exp.py`).

Nets (jaxgan/architectures/infogan.py): G FC 1024, FC 7x7x128, two 4x4 stride-2 transposed
convs (64, then 1) with BatchNorm; D body two 4x4 stride-2 convs (64, 128), FC 1024, shared by
D's logit and the Q head (FC 128 with BatchNorm, then the code outputs).
Codes: one 10-way categorical, two continuous uniform in [-1, 1] (Gaussian Q with fixed std),
62 noise dimensions. Adam beta1 0.5, D 2e-4, G 1e-3, batch 128 (the released launcher: 50
epochs of 100 updates = 5,000 steps). MI weights: categorical 1, continuous 0.1 (the paper
uses a smaller weight for continuous codes; the launcher sets 1 for all codes).
Differences that remain: jaxgan's noise is N(0, I) (the launcher's is uniform in [-1, 1]) and
the data are the 4,500 offline digits, not MNIST's 60,000.
"""
from configs import infogan


def get_config():
  config = infogan.get_config()
  config.model.generator = 'infogan'
  config.model.discriminator = 'infogan'
  config.model.g_hidden = (1024,)
  config.model.d_hidden = (1024,)
  config.model.g_features = 64
  config.model.d_features = 64
  config.model.q_hidden = 128
  config.optim.name = 'adam'
  config.optim.d_lr = 2e-4
  config.optim.g_lr = 1e-3
  config.optim.b1 = 0.5
  config.train.batch_size = 128
  config.train.num_steps = 5_000
  return config
