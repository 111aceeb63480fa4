"""Models of the seed pages that several test files use: the TLP template, the MNIST MLP, a conv net."""

from fluxtorch import Affine, Chain, Conv2D, Input, MaxPool, Model, flatten, net, relu, softmax, σ


@net
class TLP:
    first: Model
    second: Model

    def forward(self, x):
        l1 = σ(self.first(x))
        return softmax(self.second(l1))


def mlp() -> Chain:
    """The MNIST example's 784-128-64-10 MLP."""
    return Chain(Input(784), Affine(128), relu, Affine(64), relu, Affine(10), softmax)


def convnet() -> Chain:
    """A small MNIST conv net built from the shims."""
    return Chain(Input(1, 28, 28), Conv2D(8, 3), relu, MaxPool(2), flatten, Affine(10))
