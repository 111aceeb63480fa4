"""Layers: ``Affine``, ``Chain``, ``SkipConnection``, ``Parallel``, activations, ``Input``, conv shims."""

from fluxtorch.layers._activation import flatten, relu, sigmoid, softmax, tanh, σ
from fluxtorch.layers._affine import Affine
from fluxtorch.layers._chain import Chain
from fluxtorch.layers._combinators import Parallel, SkipConnection, concat
from fluxtorch.layers._conv import AvgPool, Conv2D, MaxPool, Reshape
from fluxtorch.layers._init import glorot_uniform, initn
from fluxtorch.layers._input import Input

__all__ = [
    "Affine", "AvgPool", "Chain", "Conv2D", "Input", "MaxPool", "Parallel", "Reshape", "SkipConnection",
    "concat", "flatten", "glorot_uniform", "initn", "relu", "sigmoid", "softmax", "tanh", "σ",
]
