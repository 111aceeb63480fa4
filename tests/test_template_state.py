"""``State`` fields: previous step's value on read, this step's on write, a trainable initial state."""

import pytest
import torch
from torch import nn

from fluxtorch import Affine, Chain, Model, Param, State, Template, net, unroll, unroll1
from fluxtorch._template import Stateful


@net
class Accumulate:
    """A running sum: the simplest template with state."""

    scale: Param
    total: State

    def forward(self, x):
        self.total = self.total + self.scale * x
        return self.total


def accumulate(n: int) -> Accumulate:
    return Accumulate(torch.ones(n), torch.zeros(n))


def test_state_is_a_trainable_initial_parameter_outside_a_step() -> None:
    acc = Accumulate(torch.ones(3), torch.tensor([1.0, 2.0, 3.0]))
    assert isinstance(acc.total, nn.Parameter) and acc.total.requires_grad
    assert isinstance(acc, Stateful) and isinstance(acc, Template)
    assert sorted(dict(acc.named_parameters())) == ["scale", "total"]
    assert sorted(acc.state_dict()) == ["scale", "total"]


def test_a_step_reads_the_previous_value_and_writes_this_one() -> None:
    acc = accumulate(2)
    xs = torch.randn(4, 6, 2)
    ys = unroll(acc, 6)(xs)
    torch.testing.assert_close(ys, xs.cumsum(1))


def test_reading_after_assigning_gives_this_steps_value() -> None:
    @net
    class Twice:
        y: State

        def forward(self, x):
            before = self.y
            self.y = self.y + x
            return torch.cat([before, self.y], -1)

    out = unroll(Twice(torch.zeros(1)), 3)(torch.ones(1, 3, 1))  # (1, 3, 2)
    assert out[0, :, 0].tolist() == [0.0, 1.0, 2.0]
    assert out[0, :, 1].tolist() == [1.0, 2.0, 3.0]


def test_initial_state_broadcasts_over_the_batch_and_gets_gradients() -> None:
    acc = Accumulate(torch.ones(2), torch.tensor([10.0, 20.0]))
    ys = unroll(acc, 3)(torch.zeros(5, 3, 2))
    assert ys.shape == (5, 3, 2)
    assert (ys == torch.tensor([10.0, 20.0])).all()
    ys.sum().backward()
    torch.testing.assert_close(acc.total.grad, torch.full((2,), 15.0))


def test_a_direct_call_is_one_step_from_the_initial_state_and_leaves_nothing_behind() -> None:
    acc = Accumulate(torch.ones(2), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(acc(torch.ones(3, 2)), torch.full((3, 2), 2.0))
    torch.testing.assert_close(acc(torch.ones(3, 2)), torch.full((3, 2), 2.0))
    assert isinstance(acc.total, nn.Parameter)
    assert "_slot" not in acc.__dict__ and "total" not in acc.__dict__


def test_state_is_restored_to_the_parameter_after_an_unrolled_call_even_on_error() -> None:
    acc = accumulate(2)
    unroll(acc, 2)(torch.ones(1, 2, 2))
    assert isinstance(acc.total, nn.Parameter)
    with pytest.raises(RuntimeError):
        unroll(acc, 2)(torch.ones(1, 2, 5))
    assert isinstance(acc.total, nn.Parameter) and "_slot" not in acc.__dict__


def test_assigning_state_outside_a_step_sets_the_initial_state() -> None:
    acc = accumulate(2)
    acc.total = torch.tensor([5.0, 6.0])
    assert isinstance(acc.total, nn.Parameter)
    assert dict(acc.named_parameters())["total"].tolist() == [5.0, 6.0]
    torch.testing.assert_close(acc(torch.zeros(2)), torch.tensor([5.0, 6.0]))


def test_wrong_kind_for_a_state_field_names_the_template_and_field() -> None:
    with pytest.raises(TypeError, match=r"Accumulate\.total is a State field: expected a tensor"):
        Accumulate(torch.ones(2), "zeros")


def test_missing_state_field_names_the_template_and_its_fields() -> None:
    with pytest.raises(TypeError, match=r"Accumulate takes its fields \(scale, total\)"):
        Accumulate(torch.ones(2))


def test_templates_with_state_hold_sub_models() -> None:
    @net
    class Leaky:
        inner: Model
        y: State

        def forward(self, x):
            self.y = 0.5 * self.y + self.inner(x)
            return self.y

    layer = Affine(torch.eye(2), torch.zeros(2))
    xs = torch.randn(3, 4, 2)
    ys = unroll(Chain(Leaky(layer, torch.zeros(2)), torch.tanh), 4)(xs)
    y, expected = torch.zeros(2), []
    for t in range(4):
        y = 0.5 * y + xs[:, t]
        expected.append(torch.tanh(y))
    torch.testing.assert_close(ys, torch.stack(expected, 1))


def test_reading_state_costs_a_plain_attribute_read_during_a_step() -> None:
    seen = []

    @net
    class Probe:
        y: State

        def forward(self, x):
            seen.append("y" in self.__dict__)
            self.y = x
            return x

    unroll1(Probe(torch.zeros(2)))(torch.ones(2))
    assert seen == [True]


def test_a_template_subclassing_a_recurrent_cell_steps_its_own_forward() -> None:
    from fluxtorch import Recurrent

    @net
    class Scaled(Recurrent):
        scale: Param

        def forward(self, x):
            self.y = torch.tanh(x @ self.Wxy * self.scale + self.y @ self.Wyy + self.by)
            return self.y

    r = Recurrent(3, 4)
    scaled = Scaled(r.Wxy, r.Wyy, r.by, r.y, torch.full((4,), 2.0))
    xs = torch.randn(2, 5, 3)
    twice = Recurrent(2 * r.Wxy.detach(), r.Wyy.detach(), r.by.detach(), r.y.detach())
    torch.testing.assert_close(unroll(scaled, 5)(xs), unroll(twice, 5)(xs))


def test_state_added_to_an_inherited_forward() -> None:
    @net
    class Plain:
        W: Param

        def forward(self, x):
            return x @ self.W

    @net
    class Remembering(Plain):
        y: State

    m = Remembering(torch.eye(2), torch.zeros(2))
    assert isinstance(m, Stateful)
    torch.testing.assert_close(unroll(m, 3)(torch.ones(1, 3, 2)), torch.ones(1, 3, 2))
    assert isinstance(m.y, nn.Parameter)


def test_direct_step_on_a_batch_gives_a_batch() -> None:
    from fluxtorch import Batch, Recurrent

    r = Recurrent(3, 4)
    xs = Batch([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = r(xs)
    assert isinstance(out, Batch) and len(out) == 2
    torch.testing.assert_close(out.raw, r(xs.raw))
