"""SeqGAN on the oracle benchmark with the reference's settings (LantaoYu/SeqGAN): 120 epochs
of MLE (18,720 steps), D pre-trained for the reference's 50 x 3 epochs (23,400 updates), then
200 adversarial iterations of one policy-gradient step (16 roll-outs) and 2,340 D updates
each: 42,320 steps. NLL-oracle and NLL-test every 40 steps (the reference: every 5 epochs of
MLE, every 5 adversarial iterations). That is the reference's compute: for an accelerator;
the CPU budget of benchmarks/seqgan_oracle.py is a few hundred steps of each phase with a
smaller D. MLE alone: --config.seqgan.mle_steps=42320; the constant-reward control:
--config.seqgan.reward=constant.
"""
from configs import seqgan_common


def get_config():
  config = seqgan_common.get_config()
  config.train.num_steps = 18_720 + 23_400 + 200
  config.train.log_every_steps = 100
  config.train.sample_every_steps = 1_000
  config.train.checkpoint_every_steps = 1_000
  config.eval.every_steps = 40
  return config
