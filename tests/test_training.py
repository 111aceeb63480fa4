"""train, the losses, accuracy and throttle, checked against hand-written PyTorch."""

import copy
import io
import math
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from fluxtorch import (
    Affine, Chain, Input, NonFiniteLossError, Progress, accuracy, collate, crossentropy, logitcrossentropy,
    logloss, mse, onehotbatch, relu, softmax, throttle, train,
)


def three_blobs(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
    y = torch.arange(n) % 3
    return centres[y] + torch.randn(n, 2, generator=g), y


def line_data(steps: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(steps, 16, 3, generator=g)
    return [(xi, xi @ torch.tensor([[1.0], [-2.0], [0.5]])) for xi in x]


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# train


def test_train_reaches_95_percent_on_three_classes() -> None:
    torch.manual_seed(0)
    x, y = three_blobs()
    model = Chain(Input(2), Affine(16), relu, Affine(3), softmax)
    data = [(x[i : i + 30], onehotbatch(y[i : i + 30].tolist(), range(3))) for i in range(0, 300, 30)]
    before = accuracy(model, (x, y))
    history = train(model, data, loss=logloss, opt=torch.optim.Adam, lr=0.02, epochs=20, progress=False)
    test_x, test_y = three_blobs(seed=1)
    assert accuracy(model, (test_x, test_y)) >= 0.95 > before
    assert len(history) == 200 and len(history.epochs) == 20
    assert history.epochs[-1] < history.epochs[0] / 5


def test_default_sgd_is_bit_identical_to_a_hand_written_loop() -> None:
    torch.manual_seed(0)
    model, data = Affine(3, 1), line_data()
    reference = copy.deepcopy(model)
    history = train(model, data, epochs=2, progress=False)
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    expected = []
    for _ in range(2):
        for x, y in data:
            loss = F.mse_loss(reference(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            expected.append(loss.item())
    assert history == expected
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)



def test_loss_opt_epochs_and_cb_may_be_positional_as_in_the_signature() -> None:
    model = Affine(3, 1)
    seen: list[int] = []
    history = train(model, line_data(2), mse, torch.optim.SGD(model.parameters(), lr=0.05), 3, [lambda: seen.append(1)],
                    progress=False)
    assert len(history) == 6 and len(history.epochs) == 3 and len(seen) == 4  # first step, then every epoch end


@pytest.mark.parametrize(
    ("make_opt", "lr"),
    [
        (lambda m: torch.optim.Adam(m.parameters(), lr=0.05), None),
        (lambda m: torch.optim.Adam, 0.05),
        (lambda m: (lambda ps: torch.optim.RMSprop(ps, lr=0.05)), None),
    ],
    ids=["instance", "class", "factory"],
)
def test_any_torch_optimizer(make_opt, lr) -> None:
    torch.manual_seed(0)
    model = Affine(3, 1)
    history = train(model, line_data(), opt=make_opt(model), lr=lr, epochs=30, progress=False)
    assert history[-1] < history[0] / 3


def test_optimizer_class_gets_lr_when_given() -> None:
    model = Affine(3, 1)
    built = []
    train(model, line_data(1), opt=lambda ps, lr: built.append(lr) or torch.optim.SGD(ps, lr=lr), lr=0.01, progress=False)
    assert built == [0.01]


@pytest.mark.parametrize("kind", ["zip", "generator", "dataloader", "list"])
def test_data_is_iterated_every_epoch(kind: str) -> None:
    data = line_data(4)
    xs, ys = [x for x, _ in data], [y for _, y in data]
    source = {
        "zip": lambda: zip(xs, ys),
        "generator": lambda: ((x, y) for x, y in data),
        "dataloader": lambda: DataLoader(TensorDataset(torch.cat(xs), torch.cat(ys)), batch_size=16),
        "list": lambda: data,
    }[kind]()
    history = train(Affine(3, 1), source, epochs=3, progress=False)
    assert len(history) == 12 and len(history.epochs) == 3


def test_one_pair_is_one_step_per_epoch() -> None:
    (x, y), = line_data(1)
    model, twin = Affine(3, 1), Affine(3, 1)
    twin.load_state_dict(model.state_dict())
    history = train(model, (x, y), epochs=3, progress=False)
    assert len(history) == 3 and history == train(twin, [(x, y)], epochs=3, progress=False)


def test_one_shot_iterator_replays_the_same_pairs() -> None:
    torch.manual_seed(0)
    data = line_data(3)
    a, b = Affine(3, 1), None
    b = copy.deepcopy(a)
    assert train(a, iter(data), epochs=3, progress=False) == train(b, data, epochs=3, progress=False)


def test_empty_data_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no \\(x, y\\) pairs in epoch 1"):
        train(Affine(3, 1), [], progress=False)


class Once:
    """A re-iterable that is empty the second time: epoch 2 must say so."""

    def __init__(self, data):
        self.data, self.used = data, False

    def __iter__(self):
        items = [] if self.used else self.data
        self.used = True
        return iter(items)


def test_data_that_runs_dry_names_the_epoch() -> None:
    with pytest.raises(ValueError, match="epoch 2"):
        train(Affine(3, 1), Once(line_data(2)), epochs=2, progress=False)


def test_items_that_are_not_pairs() -> None:
    with pytest.raises(TypeError, match="\\(x, y\\) pairs.*got Tensor"):
        train(Affine(3, 1), [torch.ones(2, 3)], progress=False)


def test_bad_optimizer_and_parameterless_model() -> None:
    with pytest.raises(TypeError, match="torch.optim optimizer.*got str"):
        train(Affine(3, 1), line_data(1), opt="adam", progress=False)
    with pytest.raises(TypeError, match="no parameters"):
        train(torch.exp, line_data(1), progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train(Affine(3, 1), line_data(1), epochs=-1, progress=False)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_stops_before_touching_parameters(bad: float) -> None:
    torch.manual_seed(0)
    good = line_data(3)
    x, y = good[2]
    epochs = iter([good, [good[0], good[1], (x, y.clone().fill_(bad)), good[0]]])

    class Poisoned:  # epoch 2, step 3 has a non-finite target
        def __iter__(self):
            return iter(next(epochs))

    model = Affine(3, 1)
    reference = copy.deepcopy(model)
    train(reference, good + good[:2], opt=torch.optim.Adam(reference.parameters(), lr=0.01), progress=False)
    with pytest.raises(NonFiniteLossError, match=f"loss is {bad} at epoch 2, step 3") as info:
        train(model, Poisoned(), opt=torch.optim.Adam(model.parameters(), lr=0.01), epochs=2, progress=False)
    assert all(isinstance(info.value, kind) for kind in (FloatingPointError, ValueError, RuntimeError))
    assert "before this step changed any parameter" in str(info.value)
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)


def test_nan_error_names_epoch_and_step_in_multi_epoch_runs() -> None:
    data = line_data(3)
    x, y = data[1]
    calls = []

    class Poisoned:
        def __iter__(self):
            calls.append(1)
            for i, pair in enumerate(data):
                yield (x * math.nan, y) if len(calls) == 2 and i == 1 else pair

    with pytest.raises(NonFiniteLossError, match="is nan at epoch 2, step 2"):
        train(Affine(3, 1), Poisoned(), epochs=3, progress=False)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_runs_at_most_every_n_seconds() -> None:
    clock, runs = FakeClock(), []
    f = throttle(lambda i: runs.append(i), 5, clock=clock)
    for i in range(20):  # one call per simulated second
        clock.now = float(i)
        f(i)
    assert runs == [0, 5, 10, 15]
    f.flush(99)
    assert runs[-1] == 99
    clock.now = 21.0
    f(21)
    assert runs[-1] == 99  # flush counts as a run
    assert repr(throttle(print, 2)) == "throttle(print, 2)"


def test_throttle_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="function"):
        throttle(3, 5)
    with pytest.raises(ValueError, match="seconds"):
        throttle(print, -1)


def test_train_throttles_callbacks_and_calls_them_at_each_epoch_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock)  # the clock throttle reads by default
    data = line_data(10)

    class Ticking:  # every step takes one simulated second
        def __iter__(self):
            for pair in data:
                clock.now += 1
                yield pair

    seen: list[tuple[int, int]] = []
    plain: list[float] = []
    train(
        Affine(3, 1), Ticking(), epochs=2, every=4, progress=False,
        cb=[lambda p: seen.append((p.epoch, p.step)), lambda: plain.append(clock.now)],
    )
    # clock reads 1..10 in epoch 1 and 11..20 in epoch 2: runs at 1, 5, 9, flush at 10,
    # then 14, 18 and the flush at 20
    assert plain == [1, 5, 9, 10, 14, 18, 20]
    assert seen == [(1, 1), (1, 5), (1, 9), (1, 10), (2, 4), (2, 8), (2, 10)]


def test_callback_receives_progress() -> None:
    got: list[Progress] = []
    history = train(Affine(3, 1), line_data(2), cb=got.append, every=0, progress=False)
    assert [(p.epoch, p.step, p.epoch_end) for p in got] == [(1, 1, False), (1, 2, False), (1, 2, True)]
    assert got[-1].loss == history[-1] and got[-1].history is history


def test_progress_bar_shows_loss_and_speed_on_stderr_by_default(capsys: pytest.CaptureFixture) -> None:
    train(Affine(3, 1), line_data(2), epochs=2)
    out, err = capsys.readouterr()
    assert out == "" and "epoch 1/2" in err and "epoch 2/2" in err and "2/2" in err
    assert "loss=" in err and "samples/s" in err
    train(Affine(3, 1), line_data(2), progress=False)
    assert capsys.readouterr() == ("", "")


def test_train_moves_batches_to_the_model_device() -> None:
    model = Affine(3, 1).to(torch.float64)
    data = [(x.double(), y.double()) for x, y in line_data(2)]
    history = train(model, data, device="cpu", progress=False)
    assert len(history) == 2


def test_train_under_autocast() -> None:
    torch.manual_seed(0)
    model = Chain(Input(3), Affine(16), relu, Affine(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        history = train(model, line_data(), opt=torch.optim.Adam, lr=0.02, epochs=40, progress=False)
        assert model(torch.ones(1, 3)).dtype == torch.bfloat16
    assert model[1].W.dtype == torch.float32
    assert history.epochs[-1] < history.epochs[0] / 20  # weights are re-cast after every step


@pytest.mark.cuda
def test_train_on_cuda() -> None:
    model = Affine(3, 1).cuda()
    history = train(model, line_data(2), epochs=2, progress=False)
    assert len(history) == 4 and model.W.is_cuda


@pytest.mark.cuda
def test_accuracy_and_losses_on_cuda_take_targets_on_the_cpu() -> None:
    model = Affine(torch.eye(3), torch.zeros(3)).cuda()
    x = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 2.0, 0]])
    y = torch.tensor([0, 1, 2, 0])
    assert accuracy(model, (x, y)) == 0.75 and accuracy(model, (x, F.one_hot(y, 3).float())) == 0.75
    scores = model(x.cuda())
    expected = F.cross_entropy(scores, y.cuda())
    torch.testing.assert_close(logitcrossentropy(scores, y), expected)
    torch.testing.assert_close(logitcrossentropy(scores, F.one_hot(y, 3)), expected)
    torch.testing.assert_close(mse(scores, x), F.mse_loss(scores, x.cuda()))


@pytest.mark.cuda
def test_train_on_cuda_under_float16_autocast_with_a_grad_scaler() -> None:
    torch.manual_seed(0)
    model = Chain(Input(3), Affine(16), relu, Affine(1)).cuda()
    with torch.autocast("cuda", dtype=torch.float16):
        history = train(model, line_data(), opt=torch.optim.Adam, lr=0.02, epochs=40, progress=False,
                        scaler=torch.amp.GradScaler("cuda"))
    assert model[1].W.dtype == torch.float32 and all(math.isfinite(v) for v in history)
    assert history.epochs[-1] < history.epochs[0] / 10


def test_loss_must_be_a_scalar() -> None:
    with pytest.raises(TypeError, match="scalar"):
        train(Affine(3, 1), line_data(1), loss=lambda ŷ, y: ŷ - y, progress=False)


# losses


def test_mse_matches_torch() -> None:
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(mse(a, b), F.mse_loss(a, b))
    with pytest.raises(ValueError, match="mse expected targets of the model's output shape \\(4, 1\\)"):
        mse(torch.ones(4, 1), torch.ones(4))


def test_mse_on_targets_of_the_wrong_shape_says_which_fix_applies() -> None:
    with pytest.raises(ValueError, match=r"Fix: reshape the targets, e.g. y.reshape\(\(4, 1\)\)"):
        mse(torch.ones(4, 1), torch.ones(4))
    with pytest.raises(ValueError, match=r"class indices: train with loss=logitcrossentropy"):
        mse(torch.randn(16, 2), torch.randint(0, 2, (16,)))
    with pytest.raises(ValueError, match=r"Fix: give one target value for each output value"):
        mse(torch.randn(16, 2), torch.randn(16, 3))


def test_logloss_matches_nll_on_one_hot_and_indices() -> None:
    p = torch.softmax(torch.randn(5, 7, 4, dtype=torch.float64), -1)  # (batch, time, classes)
    y = torch.randint(0, 4, (5, 7))
    expected = F.nll_loss(p.log().reshape(-1, 4), y.reshape(-1))
    torch.testing.assert_close(logloss(p, y), expected)
    torch.testing.assert_close(logloss(p, F.one_hot(y, 4).double()), expected)


def test_logloss_is_finite_on_zero_probabilities() -> None:
    value = logloss(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    assert math.isfinite(value.item()) and value.item() > 10


def test_logit_crossentropy_matches_torch() -> None:
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (6,))
    torch.testing.assert_close(logitcrossentropy(z, y), F.cross_entropy(z, y))
    torch.testing.assert_close(crossentropy(z, F.one_hot(y, 5).double()), F.cross_entropy(z, y))
    big = torch.tensor([[1000.0, -1000.0]])
    assert logitcrossentropy(big, torch.tensor([1])).item() == pytest.approx(2000.0)


def test_loss_target_errors_name_both_shapes() -> None:
    with pytest.raises(ValueError, match="one-hot rows of shape \\(2, 3\\).*indices.*\\(2,\\).*got torch.float32 of shape \\(2,\\)"):
        logloss(torch.full((2, 3), 1 / 3), torch.tensor([0.0, 1.0]))


# accuracy


def test_accuracy_with_one_hot_indices_and_several_batches() -> None:
    model = Affine(torch.eye(3), torch.zeros(3))
    x = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 2.0, 0]])
    y = torch.tensor([0, 1, 2, 0])
    assert accuracy(model, (x, y)) == 0.75
    assert accuracy(model, (x, F.one_hot(y, 3).float())) == 0.75
    assert accuracy(model, [(x[:2], y[:2]), (x[2:], y[2:])]) == 0.75
    assert accuracy(model, list(zip(x, y))) == 0.75  # single data points
    assert accuracy(model, (x.tolist(), y.tolist())) == 0.75


def test_one_hot_targets_of_any_dtype() -> None:
    model = Affine(torch.eye(3), torch.zeros(3))
    x = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 2.0, 0]])
    y = torch.tensor([0, 1, 2, 0])
    for hot in (F.one_hot(y, 3), F.one_hot(y, 3).bool(), onehotbatch(y.tolist(), range(3), dtype=torch.int64)):
        assert accuracy(model, (x, hot)) == 0.75
        torch.testing.assert_close(logitcrossentropy(x, hot), F.cross_entropy(x, y))
        torch.testing.assert_close(logloss(softmax(x), hot), F.nll_loss(torch.log_softmax(x, -1), y))


def test_accuracy_restores_training_mode_and_checks_shapes() -> None:
    model = Chain(Affine(3, 3), torch.nn.Dropout(0.5))
    model.train()
    accuracy(model, (torch.ones(2, 3), torch.tensor([0, 1])))
    assert model.training and model[1].training
    with pytest.raises(ValueError, match="scores of shape \\(2, 3\\).*got shape \\(2, 2\\)"):
        accuracy(model, (torch.ones(2, 3), torch.ones(2, 2)))
    with pytest.raises(ValueError, match="no data points"):
        accuracy(model, [])


def test_stop_from_a_callback_ends_training_and_returns_the_history() -> None:
    from fluxtorch import StopTraining, stop

    history = train(Affine(3, 1), line_data(4), epochs=5, every=0, progress=True,
                    cb=lambda p: p.step == 2 and p.epoch == 3 and stop())
    assert len(history) == 10 and len(history.epochs) == 2  # the stopped epoch's mean is left out
    with pytest.raises(StopTraining):
        stop()


@pytest.mark.parametrize("one_shot", [False, True])
def test_sizes_are_inferred_from_the_first_batch(one_shot: bool) -> None:
    model = Chain(Affine(8), relu, Affine(1))  # no Input: sizes come from the data
    data = line_data(3)
    history = train(model, iter(data) if one_shot else data, opt=torch.optim.Adam, lr=0.02, epochs=2, progress=False)
    assert len(history) == 6 and model[0].W.shape == (3, 8)


def test_train_and_losses_take_batch_and_seq() -> None:
    from fluxtorch import Batch

    data = [(Batch(x), Batch(y)) for x, y in line_data(3)]
    model = Affine(3, 1)
    history = train(model, data, epochs=5, progress=False)
    assert history[-1] < history[0]
    p = Batch(torch.softmax(torch.randn(4, 3), -1))
    assert torch.equal(logloss(p, Batch(torch.eye(3)[[0, 1, 2, 0]])), logloss(p.raw, torch.tensor([0, 1, 2, 0])))
    identity = Affine(torch.eye(3), torch.zeros(3))
    assert accuracy(identity, (Batch(torch.eye(3)), Batch(torch.eye(3)))) == 1.0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_shows_loss_and_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    train(Affine(3, 1), line_data(4), epochs=2, progress=True)
    shown = screen.getvalue()
    assert "epoch 1/2" in shown and "epoch 2/2" in shown and "4/4" in shown
    assert "loss=" in shown and "samples/s" in shown


def test_a_torch_loss_gets_the_stacked_tensors_of_batches_from_collate() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    model = Chain(Input(3), Affine(2))
    loader = DataLoader(list(zip(x, y)), batch_size=4, collate_fn=collate)
    history = train(model, loader, loss=F.cross_entropy, epochs=2, progress=False)
    assert len(history) == 4 and all(math.isfinite(v) for v in history)
