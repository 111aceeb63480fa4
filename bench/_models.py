"""The models benchmarked, built twice: with fluxtorch and as plain PyTorch with the same weights."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fluxtorch import Affine, Chain, relu


def mlp(sizes: list[int], *, final_relu: bool = True) -> Chain:
    """``Chain(Affine(a, b), relu, ...)`` through ``sizes``; relu after the last unless told not to."""
    layers: list = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(Affine(a, b))
        if final_relu or i < len(sizes) - 2:
            layers.append(relu)
    return Chain(*layers)


def sequential_twin(chain: Chain) -> nn.Sequential:
    """An ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` computing what ``chain`` does, same weights."""
    modules: list[nn.Module] = []
    for layer in chain:
        if isinstance(layer, Affine):
            n_in, n_out = layer.W.shape
            linear = nn.Linear(n_in, n_out, device=layer.W.device, dtype=layer.W.dtype)
            with torch.no_grad():
                linear.weight.copy_(layer.W.T)  # nn.Linear keeps (out, in); Affine keeps W as (in, out)
                linear.bias.copy_(layer.b)
            modules.append(linear)
        elif layer is relu:
            modules.append(nn.ReLU())
        else:
            raise TypeError(f"sequential_twin knows Affine and relu, got {layer!r}")
    return nn.Sequential(*modules)


def train_step(model: nn.Module, x: Tensor, y: Tensor, lr: float = 1e-3) -> Callable[[], Tensor]:
    """One SGD step on the mean squared error, as a no-argument function returning the loss."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def same_output(ours: Callable[[Tensor], Tensor], plain: Callable[[Tensor], Tensor], x: Tensor) -> None:
    """Refuse to time two models that do not compute the same function."""
    with torch.no_grad():
        a, b = ours(x), plain(x)
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"benchmark twins disagree: max difference {(a - b).abs().max().item():.3g}")
