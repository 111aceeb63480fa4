"""Quick start: fit a small Chain to a generated regression problem with torch.optim.Adam.

Run: python examples/quickstart.py   (a few seconds on a CPU)
"""

import torch

from fluxtorch import Affine, Chain, Input, relu


def main() -> None:
    torch.manual_seed(0)
    x = torch.rand(512, 3) * 4 - 2
    y = (x[:, :1] * x[:, 1:2]).sin() + 0.5 * x[:, 2:]  # (512, 1) a smooth target
    model = Chain(Input(3), Affine(32), relu, Affine(32), relu, Affine(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = torch.nn.functional.mse_loss(model(x), y).item()
    for _ in range(400):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{model}\nmean squared error: {first:.4f} before training, {loss.item():.4f} after")


if __name__ == "__main__":
    main()
