"""train on a DistributedDataParallel model under torchrun: two CPU ranks (gloo) end identical."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
TORCHRUN = shutil.which("torchrun") or shutil.which("torchrun", path=str(Path(sys.executable).parent))

WORKER = textwrap.dedent(
    """
    import os, sys, torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from fluxtorch import Affine, Chain, Input, relu, train

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    model = DistributedDataParallel(Chain(Input(3), Affine(8), relu, Affine(1)))
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own shard of the data
    x = torch.randn(6, 16, 3, generator=g)
    data = [(xi, xi @ torch.tensor([[1.0], [-2.0], [0.5]])) for xi in x]
    history = train(model, data, opt=torch.optim.Adam, lr=0.02, epochs=5, progress=True)
    torch.save({"state": model.module.state_dict(), "history": list(history)}, sys.argv[1] + f"/rank{rank}.pt")
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")
def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [TORCHRUN, "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    for name, weight in ranks[0]["state"].items():
        assert torch.equal(weight, ranks[1]["state"][name]), name
    assert ranks[0]["history"] == ranks[1]["history"]  # the loss shown is the mean over ranks
    assert ranks[0]["history"][-1] < ranks[0]["history"][0] / 3


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")
def test_mnist_example_under_torchrun(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [TORCHRUN, "--standalone", "--nproc_per_node=2", "examples/mnist.py", "--ddp", "--offline",
         "--epochs", "1", "--device", "cpu", "--plot", str(tmp_path / "ddp.png")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert sum("training on scikit-learn's handwritten digits" in line for line in lines) == 1  # rank 0 speaks
    assert lines[-1].startswith("test accuracy: ") and (tmp_path / "ddp.png").is_file()
