"""``shapes``: the computation listed with shapes and source lines, on fake tensors, failing or not."""

import inspect
import resource
import time

import pytest
import torch
from torch import nn

from fluxtorch import (
    Affine, AvgPool, Chain, Conv2D, Input, MaxPool, Model, Param, flatten, net, relu, shapes, softmax, σ,
)


@net
class TLP:
    first: Model
    second: Model

    def forward(self, x):
        l1 = σ(self.first(x))
        return softmax(self.second(l1))


FIRST_LINE = inspect.getsourcelines(TLP.forward.__wrapped__)[1] + 1


def rows(report) -> list[str]:
    return [line.strip() for line in str(report).splitlines()]


def test_template_listing_has_source_lines_layers_and_shapes(capsys: pytest.CaptureFixture) -> None:
    report = shapes(TLP(Affine(10, 20), Affine(20, 15)), (5, 10))
    printed = capsys.readouterr().out
    assert printed.strip() == str(report)
    lines = rows(report)
    assert lines[0] == "shapes of TLP(Affine(10 => 20), Affine(20 => 15)) on input (5, 10):"
    assert lines[1].split() == ["TLP", "(5,", "10)", "→", "(5,", "15)"]
    assert lines[2].endswith(f"test_shapes.py:{FIRST_LINE}   l1 = σ(self.first(x))") and lines[2].startswith("#")
    assert lines[3].split() == [".first", "Affine(10", "=>", "20)", "(5,", "10)", "→", "(5,", "20)"]
    assert lines[4].split() == ["σ", "(5,", "20)", "→", "(5,", "20)"]
    assert lines[5].endswith(f"test_shapes.py:{FIRST_LINE + 1}   return softmax(self.second(l1))")
    assert lines[6].startswith(".second Affine(20 => 15)") and lines[6].endswith("(5, 20) → (5, 15)")
    assert lines[7].startswith("softmax") and lines[7].endswith("(5, 15) → (5, 15)")
    assert lines[8] == "output: (5, 15)"
    assert report.output == (5, 15) and report.fits and report.error is None


def test_failing_model_is_listed_up_to_the_failing_call_without_raising() -> None:
    report = shapes(TLP(Affine(10, 20), Affine(21, 15)), (5, 10), show=False)
    lines = rows(report)
    failing = next(i for i, line in enumerate(lines) if line.startswith(".second"))
    assert lines[failing].endswith("(5, 20) → ✗ ValueError")
    assert not any(line.startswith("softmax") for line in lines)  # nothing after the failure ran
    assert lines[failing + 1] == "✗ the shapes stop fitting here:"
    assert lines[failing + 2].startswith("ValueError: Affine(21 => 15) expected input with 21 features")
    assert "TLP.second, an Affine(21 => 15), given input of shape (5, 20); it holds W (21, 15)" in str(report)
    assert not report.fits and report.output is None and isinstance(report.error, ValueError)
    assert "fails: ValueError" in repr(report)


def test_chain_steps_are_listed_by_position_with_functions_and_torch_modules() -> None:
    model = Chain(Input(1, 28, 28), Conv2D(8, 3), relu, MaxPool(2), flatten, nn.Linear(1352, 10), softmax)
    lines = rows(shapes(model, (5, 1, 28, 28), show=False))
    assert [line.split("   ")[0].strip() for line in lines[2:9]] == [
        "[0] Input(1, 28, 28)", "[1] Conv2D(1 => 8, (3, 3))", "[2] relu", "[3] MaxPool(2)", "[4] flatten",
        "[5] Linear(in_features=1352, out_features=10, bias=True)", "[6] softmax",
    ]
    assert lines[3].endswith("(5, 1, 28, 28) → (5, 8, 26, 26)")
    assert lines[6].endswith("(5, 8, 13, 13) → (5, 1352)")
    assert lines[-1] == "output: (5, 10)"


def test_ops_in_user_code_are_listed_with_their_operands() -> None:
    @net
    class MyAffine:
        W: Param
        b: Param

        def forward(self, x):
            return x @ self.W + self.b

    lines = rows(shapes(Chain(MyAffine(torch.ones(10, 3), torch.zeros(3)), relu), (5, 10), show=False))
    assert any(line.startswith("@") and line.endswith("(5, 10) @ (10, 3) → (5, 3)") for line in lines)
    assert any(line.startswith("+") and line.endswith("(5, 3) + (3,) → (5, 3)") for line in lines)
    assert any("return x @ self.W + self.b" in line for line in lines)


def test_a_function_step_lists_its_ops_and_a_failing_op_is_the_last_line() -> None:
    model = Chain(Affine(10, 5), lambda x: torch.tanh(x) @ torch.ones(3, 3), softmax)
    report = shapes(model, (3, 10), show=False)
    lines = rows(report)
    step = lines.index("[1] <lambda>          (3, 5) → ✗ RuntimeError")
    assert lines[step + 1].startswith("#") and "lambda x: torch.tanh(x) @ torch.ones(3, 3)" in lines[step + 1]
    assert lines[step + 2].split() == ["tanh", "(3,", "5)", "→", "(3,", "5)"]
    assert lines[step + 3].split() == ["ones", "→", "(3,", "3)"]  # tensors made in user code are listed too
    assert lines[step + 4].startswith("@") and lines[step + 4].endswith("(3, 5) @ (3, 3) → ✗ RuntimeError")
    assert not any(line.startswith("[2] softmax") for line in lines)
    assert isinstance(report.error, RuntimeError)


def test_plain_function_model() -> None:
    layer = Affine(10, 4)
    report = shapes(lambda x: softmax(layer(x)), (2, 10), show=False)
    assert report.output == (2, 4)
    assert any(line.startswith("Affine(10 => 4)") and line.endswith("(2, 10) → (2, 4)") for line in rows(report))


def test_nothing_is_left_behind() -> None:
    model = Chain(Affine(3, 2), relu)
    shapes(model, (4, 3), show=False)
    assert not nn.modules.module._global_forward_hooks and not nn.modules.module._global_forward_pre_hooks
    assert torch.equal(model(torch.ones(1, 3)), model(torch.ones(1, 3)))  # still runs on real data


def test_huge_activations_are_listed_without_memory_or_time() -> None:
    """Real activations here would need ~120 GB (64 × 64 channels × 4094² floats); params are tiny."""
    model = Chain(Input(3, 4096, 4096), Conv2D(64, 3), relu, MaxPool(2), Conv2D(8, 3), AvgPool(64), flatten, Affine(10))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    report = shapes(model, (64, 3, 4096, 4096), show=False)
    elapsed = time.perf_counter() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert report.output == (64, 10)
    assert "[1] Conv2D(3 => 64, (3, 3))" in str(report) and "(64, 64, 4094, 4094)" in str(report)
    assert grown_mib < 200 and elapsed < 5


def test_code_that_reads_values_is_listed_up_to_that_point_with_the_reason() -> None:
    def positive(x):
        return x if x.sum() > 0 else -x  # branches on the data's values

    report = shapes(Chain(Affine(3, 2), positive), (4, 3), show=False)
    assert "[1] positive" in str(report) and "sum" in str(report)
    assert any("tensors that have no values" in note for note in report.error.__notes__)
    assert "tensors that have no values" in str(report)


def test_listing_made_while_handling_another_error_is_not_confused_by_it() -> None:
    try:
        raise KeyError("unrelated")
    except KeyError:
        report = shapes(Chain(Affine(3, 2), nn.ReLU()), (4, 3), show=False)
    assert report.fits and "✗" not in str(report)


def test_state_a_forward_stores_is_put_back_afterwards() -> None:
    class Remember(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("count", torch.zeros(()))
            self.last = None

        def forward(self, x):
            self.last = x  # state kept between calls, as recurrent models keep theirs
            self.count = self.count + 1
            return x

    layer = Remember()
    model = Chain(Affine(3, 2), layer)
    assert shapes(model, (4, 3), show=False).fits
    assert layer.last is None and layer.count.item() == 0 and not layer.count.is_meta
    assert model(torch.ones(1, 3)).shape == (1, 2) and layer.count.item() == 1


def test_the_report_is_a_string() -> None:
    report = shapes(Chain(Affine(3, 2), relu), (4, 3), show=False)
    assert isinstance(report, str) and "[1] relu" in report and report.lines == report.splitlines()
    assert repr(report) == "<shapes of Chain(Affine(3 => 2), relu) on (4, 3): output (4, 2)>"


def test_layers_held_deeper_than_a_field_are_named_by_their_path() -> None:
    from fluxtorch import Parallel, concat

    report = shapes(Parallel(concat, Affine(4, 2), Affine(4, 3)), (1, 4), show=False)
    lines = rows(report)
    assert lines[2].startswith(".layers[0] Affine(4 => 2)") and lines[2].endswith("(1, 4) → (1, 2)")
    assert lines[3].startswith(".layers[1] Affine(4 => 3)") and lines[3].endswith("(1, 4) → (1, 3)")
    assert report.output == (1, 5)


def test_layers_inferred_during_the_listing_are_shown_with_their_sizes() -> None:
    lines = rows(shapes(Chain(Affine(8), relu, Affine(2)), (3, 5), show=False))
    assert lines[2].startswith("[0] Affine(5 => 8)") and lines[4].startswith("[2] Affine(8 => 2)")


def test_a_model_with_a_multi_line_repr_is_named_on_one_line() -> None:
    model = nn.Sequential(Affine(10, 5), nn.Linear(5, 2))
    report = shapes(model, (2, 10), show=False)
    assert rows(report)[0] == (
        "shapes of Sequential((0): Affine(10 => 5) (1): Linear(in_features=5, out_features=2, bias=True))"
        " on input (2, 10):"
    )
