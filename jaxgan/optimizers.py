"""Per-player optimizers from `config.optim`, matching PyTorch's update rules."""
import optax


def make_optimizer(optim, learning_rate: float) -> optax.GradientTransformation:
  if optim.name == 'adam':
    return optax.adam(learning_rate, b1=optim.b1, b2=optim.b2, eps=optim.eps)
  if optim.name == 'rmsprop':
    # torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps).
    return optax.rmsprop(learning_rate, decay=optim.rms_decay, eps=optim.eps, eps_in_sqrt=False)
  if optim.name == 'sgd':
    return optax.sgd(learning_rate)
  raise ValueError(optim.name)  # validate() has already rejected anything else.
