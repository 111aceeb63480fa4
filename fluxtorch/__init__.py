"""fluxtorch: the model-building notation of early Flux.jl, on PyTorch.

Every model is a ``torch.nn.Module`` (or a plain function), so CUDA, autograd,
``torch.optim``, ``torch.compile`` and the rest of PyTorch work unchanged.
"""

from fluxtorch._convert import to_tensor
from fluxtorch._template import Model, Param, State, Template, UninferredError, net
from fluxtorch.debug import annotate, outputsize, shapes, summary
from fluxtorch.dims import Batch, Seq, batchone, collate, map, rawbatch, tobatch, unbatchone
from fluxtorch.layers import (
    Affine, AvgPool, Chain, Conv2D, Input, MaxPool, Parallel, Reshape, SkipConnection,
    concat, flatten, glorot_uniform, initn, relu, sigmoid, softmax, tanh, σ,
)
from fluxtorch.recurrent import (
    LSTM, GatedRecurrent, Recurrent, flip, from_torch_lstm, to_torch_lstm, unroll, unroll1,
)
from fluxtorch.backend import ExportError, OnnxModel, cpu, gpu, onnx
from fluxtorch.storage import LoadError, SaveError, load, load_weights, register, save, save_weights
from fluxtorch.data import batches, chunk, onecold, onehot, onehotbatch, partition, read_idx, sequences
from fluxtorch.training import (
    History, NonFiniteLossError, Progress, StopTraining, accuracy, crossentropy, logitcrossentropy,
    logloss, mse, stop, throttle, train,
)

__version__ = "0.1.0"

__all__ = [
    "Affine", "AvgPool", "Chain", "Conv2D", "Input", "MaxPool", "Model", "Parallel", "Param",
    "Reshape", "SkipConnection", "State", "Template", "UninferredError",
    "LSTM", "GatedRecurrent", "Recurrent", "flip", "from_torch_lstm", "to_torch_lstm", "unroll", "unroll1",
    "annotate", "concat", "flatten", "glorot_uniform", "initn", "net", "relu", "sigmoid", "softmax",
    "tanh", "to_tensor", "σ",
    "Batch", "Seq", "batchone", "collate", "map", "outputsize", "rawbatch", "shapes", "summary",
    "tobatch", "unbatchone",
    # training and data
    "History", "NonFiniteLossError", "Progress", "StopTraining", "accuracy", "batches", "chunk",
    "crossentropy", "logitcrossentropy", "logloss", "mse", "onecold", "onehot", "onehotbatch",
    "partition", "read_idx", "sequences", "stop", "throttle", "train",
    # backends and storage
    "ExportError", "LoadError", "OnnxModel", "SaveError", "cpu", "gpu", "load", "load_weights",
    "onnx", "register", "save", "save_weights",
]
