"""Training: ``train`` (Flux's ``train!``), losses, ``accuracy`` and ``throttle``d callbacks.

>>> torch.manual_seed(0)
<torch._C.Generator object at ...>
>>> x = torch.randn(64, 2)
>>> data = [(x, x.sum(1, keepdim=True))]         # one (x, y) pair per step
>>> history = train(Affine(2, 1), data, epochs=30, progress=False)
>>> history[0] > 100 * history[-1]
True
"""

from fluxtorch.training._callbacks import Progress, StopTraining, stop, throttle
from fluxtorch.training._losses import accuracy, crossentropy, logitcrossentropy, logloss, mse
from fluxtorch.training._train import History, NonFiniteLossError, train

__all__ = [
    "History", "NonFiniteLossError", "Progress", "StopTraining", "accuracy", "crossentropy",
    "logitcrossentropy", "logloss", "mse", "stop", "throttle", "train",
]
