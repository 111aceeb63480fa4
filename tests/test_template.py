"""@net templates: the seed's examples, constructors, fields, sharing, inheritance, storage, errors."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from fluxtorch import Affine, Chain, Input, Model, Param, Template, glorot_uniform, initn, net, relu
from seed_models import TLP


@net
class MyAffine:
    W: Param
    b: Param

    def forward(self, x):
        return x @ self.W + self.b


@MyAffine.constructor
def _sizes(in_: int, out: int, *, init=glorot_uniform) -> MyAffine:
    return MyAffine(init(in_, out), torch.zeros(out))


def test_seed_examples_compute_the_written_maths() -> None:
    W, b = torch.randn(5, 5), torch.randn(5)
    m = MyAffine(W, b)
    x = torch.randn(3, 5)
    torch.testing.assert_close(m(x), x @ W + b)
    assert isinstance(m, nn.Module) and isinstance(m, Template)
    model = TLP(Affine(10, 20), Affine(20, 15))
    x = torch.randn(4, 10)
    f, s = model.first, model.second
    torch.testing.assert_close(model(x), torch.softmax(torch.sigmoid(x @ f.W + f.b) @ s.W + s.b, dim=-1))
    assert model(x[0]).shape == (15,)
    assert repr(model) == "TLP(Affine(10 => 20), Affine(20 => 15))"


def test_convenience_constructor_sits_beside_the_generated_one() -> None:
    m = MyAffine(10, 20)
    assert m.W.shape == (10, 20) and torch.equal(m.b, torch.zeros(20))
    assert MyAffine(10, 20, init=initn).W.abs().max() < 0.1  # randn / 100
    assert MyAffine(torch.ones(2, 3), torch.ones(3)).W.shape == (2, 3)  # tensors still go to the fields


def test_constructor_dispatch_follows_class_annotations() -> None:
    @net
    class Scale:
        s: Param
        def forward(self, x):
            return x * self.s

    @Scale.constructor
    def _from_size(n: int) -> Scale:
        return Scale(torch.full((n,), 2.0))

    @Scale.constructor
    def _from_module(other: nn.Linear) -> Scale:
        return Scale(other.bias.detach())

    assert torch.equal(Scale(3).s, torch.full((3,), 2.0))
    assert Scale(nn.Linear(2, 4)).s.shape == (4,)
    assert torch.equal(Scale(torch.ones(2)).s, torch.ones(2))  # neither annotation fits a tensor
    with pytest.raises(TypeError, match=r"Scale\.s is a Param field.*got bool"):
        Scale(True)  # bool is not taken for int, and is no tensor either


def test_defaults_and_plain_settings() -> None:
    @net
    class Scaled:
        W: Param
        act: Model = relu
        scale: float = 2.0
        def forward(self, x):
            return self.act(x @ self.W) * self.scale

    x = torch.randn(3, 2)
    W = torch.randn(2, 2)
    s = Scaled(W)
    torch.testing.assert_close(s(x), torch.relu(x @ W) * 2.0)
    t = Scaled(W, torch.tanh, scale=0.5)
    torch.testing.assert_close(t(x), torch.tanh(x @ W) * 0.5)
    assert repr(t) == "Scaled(W=(2, 2), tanh, scale=0.5)"
    assert [name for name, _ in t.named_parameters()] == ["W"]


def test_params_from_lists_arrays_and_tensors() -> None:
    m = MyAffine([[1, 2], [3, 4]], np.zeros(2))
    assert isinstance(m.W, nn.Parameter) and m.W.dtype == torch.get_default_dtype() and m.W.requires_grad
    assert m.b.dtype == torch.get_default_dtype()
    torch.testing.assert_close(m([1.0, 1.0]), torch.tensor([4.0, 6.0]))
    d = MyAffine(torch.ones(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert d.W.dtype == torch.float64


def test_shared_parameters_stay_shared() -> None:
    W = nn.Parameter(torch.randn(3, 3))
    a, b = MyAffine(W, torch.zeros(3)), MyAffine(W, torch.zeros(3))
    assert a.W is b.W is W
    both = TLP(a, b)
    assert len(list(both.parameters())) == 3  # W once, two biases
    plain = torch.randn(3, 3)  # a plain tensor given twice becomes one Parameter, not two
    c, d = MyAffine(plain, torch.zeros(3)), MyAffine(plain, torch.zeros(3))
    assert c.W is d.W
    opt = torch.optim.SGD(TLP(c, d).parameters(), lr=0.1)
    TLP(c, d)(torch.randn(2, 3)).sum().backward()
    opt.step()
    assert torch.equal(c.W, d.W)


def test_model_fields_hold_functions_modules_and_templates() -> None:
    m = TLP(nn.Linear(3, 4), torch.nn.functional.relu)
    assert list(m.state_dict()) == ["first.weight", "first.bias"]
    x = torch.randn(2, 3)
    torch.testing.assert_close(m(x), torch.softmax(torch.relu(torch.sigmoid(m.first(x))), -1))
    nested = TLP(TLP(Affine(3, 3), Affine(3, 3)), Chain(Affine(3, 2), relu))
    assert list(nested.state_dict()) == [
        "first.first.W", "first.first.b", "first.second.W", "first.second.b", "second.0.W", "second.0.b",
    ]
    assert repr(nested) == "TLP(TLP(Affine(3 => 3), Affine(3 => 3)), Chain(Affine(3 => 2), relu))"
    assert nested(x).shape == (2, 2)


def test_templates_drop_into_chains_and_train() -> None:
    torch.manual_seed(0)
    model = Chain(MyAffine(4, 8), relu, MyAffine(8, 1))
    x = torch.randn(32, 4)
    y = x.sum(1, keepdim=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    first = torch.nn.functional.mse_loss(model(x), y).item()
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < first / 10


def test_state_dict_round_trip_and_torch_save(tmp_path) -> None:
    model = TLP(MyAffine(3, 4), Affine(4, 2))
    assert list(model.state_dict()) == ["first.W", "first.b", "second.W", "second.b"]
    fresh = TLP(MyAffine(3, 4), Affine(4, 2))
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(2, 3)
    assert torch.equal(fresh(x), model(x))
    torch.save(model, tmp_path / "tlp.pt")
    again = torch.load(tmp_path / "tlp.pt", weights_only=False)
    assert type(again) is TLP and torch.equal(again(x), model(x))
    assert torch.equal(pickle.loads(pickle.dumps(model))(x), model(x))
    assert torch.equal(copy.deepcopy(model)(x), model(x))


def test_super_inheritance_and_properties() -> None:
    @net
    class Doubled(MyAffine):
        def forward(self, x):
            return 2 * super().forward(x)

    @net
    class Gated(MyAffine):
        g: Param
        @property
        def size(self):
            return self.W.shape[1]
        def forward(self, x):
            return super().forward(x) * torch.sigmoid(self.g)

    W, b = torch.randn(2, 3), torch.randn(3)
    x = torch.randn(4, 2)
    torch.testing.assert_close(Doubled(W, b)(x), 2 * (x @ W + b))
    g = Gated(W, b, torch.zeros(3))
    torch.testing.assert_close(g(x), (x @ W + b) * 0.5)
    assert [f.name for f in Gated._fields] == ["W", "b", "g"] and g.size == 3
    assert list(g.state_dict()) == ["W", "b", "g"]


def test_infer_works_for_user_templates_inside_chains() -> None:
    @MyAffine.constructor
    def _lazy(out: int) -> MyAffine:
        return MyAffine.infer(lambda shape: MyAffine(shape[-1], out), f"? => {out}")

    m = Chain(Input(6), MyAffine(3), relu, TLP(MyAffine(4), Affine(2)))
    assert m[1].W.shape == (6, 3) and m[3].first.W.shape == (3, 4)
    assert m(torch.randn(5, 6)).shape == (5, 2)
    MyAffine._constructors.remove(_lazy)


def test_errors_name_the_template_and_the_fix() -> None:
    with pytest.raises(TypeError, match=r"MyAffine takes its fields \(W, b\).*missing.*'b'.*Fix"):
        MyAffine(torch.ones(2, 2))
    with pytest.raises(TypeError, match=r"MyAffine takes its fields \(W, b\).*too many"):
        MyAffine(torch.ones(2, 2), torch.ones(2), torch.ones(2))
    with pytest.raises(TypeError, match=r"MyAffine has no field named 'c'"):
        MyAffine(torch.ones(2, 2), c=torch.ones(2))
    with pytest.raises(TypeError, match=r"MyAffine\.W is a Param field: expected a tensor.*got str"):
        MyAffine("W", torch.ones(2))
    with pytest.raises(TypeError, match=r"TLP\.first is a Model field: expected a callable.*got int"):
        TLP(3, relu)
    with pytest.raises(TypeError, match=r"template NoForward has no forward method.*def forward"):
        @net
        class NoForward:
            W: Param
    with pytest.raises(TypeError, match=r"template Late: field 'b' has no default but comes after 'W'"):
        @net
        class Late:
            W: Param = torch.ones(2)
            b: Param
            def forward(self, x):
                return x
    with pytest.raises(TypeError, match=r"net takes a class.*or a function.*got int"):
        net(3)


def test_errors_inside_a_template_are_located() -> None:
    model = TLP(Affine(10, 21), Affine(20, 15))
    with pytest.raises(ValueError, match="expected input with 20 features") as info:
        model(torch.randn(3, 10))
    note = info.value.__notes__[0]
    assert "TLP.second, an Affine(20 => 15)" in note and "given input of shape (3, 21)" in note
    assert "self.second(l1)" in note


def test_annotation_spellings_and_bases() -> None:
    import fluxtorch
    from typing import ClassVar

    @net
    class Spelled(nn.Module):  # an explicit nn.Module base is allowed
        W: "fluxtorch.Param"  # string annotations (from __future__ import annotations) work too
        b: fluxtorch.Param
        unit: ClassVar[str] = "m"  # a class variable, not a field
        def forward(self, x):
            return x @ self.W + self.b

    m = Spelled(torch.eye(2), torch.zeros(2))
    assert list(m.state_dict()) == ["W", "b"] and Spelled.unit == "m"
    assert [f.name for f in Spelled._fields] == ["W", "b"]


def test_variadic_constructor_checks_every_argument() -> None:
    @net
    class Grid:
        cells: Param
        def forward(self, x):
            return x * self.cells

    @Grid.constructor
    def _from_sizes(*sizes: int) -> Grid:
        return Grid(torch.zeros(sizes))

    assert Grid(2, 3).cells.shape == (2, 3)
    assert Grid(torch.ones(4)).cells.shape == (4,)  # a tensor is no int: the generated constructor


def test_post_init_checks_fields_after_every_construction() -> None:
    @net
    class Diagonal:
        d: Param

        def __post_init__(self):
            if self.d.dim() != 1:
                raise ValueError(f"Diagonal expected d of shape (n,), got {tuple(self.d.shape)}.")

        def forward(self, x):
            return x * self.d

    @Diagonal.constructor
    def _(n: int, m: int):
        return Diagonal(torch.ones(n, m))

    assert Diagonal([1.0, 2.0])(torch.ones(3, 2)).tolist() == [[1.0, 2.0]] * 3
    with pytest.raises(ValueError, match=r"expected d of shape \(n,\), got \(2, 2\)"):
        Diagonal(torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"got \(2, 3\)"):
        Diagonal(2, 3)


def test_arguments_fitting_nothing_list_the_fields_and_the_constructors() -> None:
    with pytest.raises(TypeError, match=r"Fix: call MyAffine\(W, b\) or MyAffine\(in_: int, out: int, \*, init=...\)\.$"):
        MyAffine(1, 2, 3)


def test_numpy_integers_are_sizes() -> None:
    layer = Affine(np.prod((28, 28)), np.int64(10))  # sizes computed with NumPy
    assert layer.W.shape == (784, 10) and repr(layer) == "Affine(784 => 10)"
    assert MyAffine(np.int32(3), 2).W.shape == (3, 2)
    assert Affine(np.ones((3, 2)), np.zeros(2)).W.shape == (3, 2)  # arrays are still parameters
