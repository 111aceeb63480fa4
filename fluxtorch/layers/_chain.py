"""``Chain``: a fold over callables.  Any function is a model, so any function is a layer."""

from __future__ import annotations

from typing import Any, Callable, Iterator, overload

import torch
from torch import Tensor, nn

from fluxtorch._convert import at_edge
from fluxtorch._shape import NEEDS_VALUES, run_on_shape
from fluxtorch._naming import callable_name, with_count
from fluxtorch._infer import InferringModule
from fluxtorch._modes import evaluating
from fluxtorch.debug._notes import annotate
from fluxtorch.dims._batch import Stacked
from fluxtorch.layers._input import Input


class Chain(InferringModule):
    """Call layers in sequence: ``Chain(f, g, h)(x) == h(g(f(x)))``.

    Layers are any callables (fluxtorch layers, ``nn.Module``s, torch functions,
    ``def``s, lambdas); module layers are registered under their position (``0.W``,
    ``2.b``, as ``nn.Sequential``) or their name for ``Chain(encoder=..., decoder=...)``.
    Starting with ``Input(...)`` infers every layer's size at construction.

    >>> m = Chain(Input(4), Affine(3), relu, Affine(2), softmax)
    >>> m
    Chain(Input(4), Affine(4 => 3), relu, Affine(3 => 2), softmax)  # 23 parameters
    >>> m(torch.ones(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(self, *layers: Callable[..., Any], **named: Callable[..., Any]) -> None:
        super().__init__()
        self._names: list[str] = []
        self._layers: list[Callable[..., Any]] = []
        self._point: tuple[int, ...] | None = None
        for i, layer in enumerate(layers):
            self._add(str(i), layer)
        for name, layer in named.items():
            self._add(name, layer)
        if self._layers and isinstance(self._layers[0], Input):
            self._infer_sizes((1, *self._layers[0].shape))

    def _add(self, name: str, layer: Callable[..., Any]) -> None:
        position = len(self._layers)
        if position == 0:  # an Input of image-like points lets one point in as a batch of one
            self._point = layer.shape if isinstance(layer, Input) and len(layer.shape) > 1 else None
        if not callable(layer):
            raise TypeError(
                f"Chain layer {name if not name.isdigit() else position} must be callable (a "
                f"layer, an nn.Module or a function); got {type(layer).__name__} {layer!r:.60}. "
                f"Fix: pass the function itself (e.g. relu, not relu(x)) or wrap the value in a layer."
            )
        if not name.isdigit() and (name in self._names or hasattr(type(self), name) or name in self.__dict__):
            raise ValueError(f"Chain cannot name a layer {name!r}: the name is taken. Fix: choose another name.")
        if isinstance(layer, nn.Module):
            self.add_module(name, layer)
        elif not name.isdigit():
            self.__dict__[name] = layer
        self._names.append(name)
        self._layers.append(layer)

    def _infer_sizes(self, shape: tuple[int, ...]) -> None:
        """Create every size-inferred layer's parameters by passing a shape-only tensor through.

        Layers run in eval mode, so batch statistics (BatchNorm) are neither needed nor updated.
        A layer that looks at its input's values (``.item()``, ``x[x > 0]``) cannot run on a
        shape-only tensor: then one random data point is passed through instead.
        """
        with evaluating(self):
            try:
                run_on_shape(self, shape)
            except NEEDS_VALUES:
                with torch.no_grad():
                    self(torch.rand(shape))

    def forward(self, x: Any) -> Any:
        if not isinstance(x, Tensor):
            if isinstance(x, Stacked):  # a Batch in gives a Batch out
                return x.rewrap(self.forward(x.raw))
            x = at_edge(x, who="Chain")
        point = self._point  # x.dim() is compared first: no guard on a dynamic batch size
        if point is not None and x.dim() == len(point) and x.shape == point:
            # one image-like data point: run it as a batch of one, so that layers which read a
            # 3-D tensor as a batch (flatten) see the batch, and give one data point back
            return self.forward(x.unsqueeze(0)).squeeze(0)
        for i, layer in enumerate(self._layers):
            try:
                x = layer(x)
            except Exception as err:
                annotate(err, self, step=self._step(i), child=layer, x=x)
                raise
        return x

    def _step(self, i: int) -> int | str:
        name = self._names[i]
        return int(name) if name.isdigit() else name

    @overload
    def __getitem__(self, index: int | str) -> Callable[..., Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Chain: ...

    def __getitem__(self, index: int | str | slice) -> Any:
        if isinstance(index, slice):
            sub = Chain()
            for name, layer in zip(self._names[index], self._layers[index]):
                sub._add(str(len(sub)) if name.isdigit() else name, layer)
            return sub
        if isinstance(index, str):
            if index not in self._names:
                raise KeyError(
                    f"Chain has no layer named {index!r}; its names are {self._names}. "
                    f"Fix: use one of those names, or an int position."
                )
            return self._layers[self._names.index(index)]
        if isinstance(index, int) and not -len(self._layers) <= index < len(self._layers):
            n = len(self._layers)
            held = f"{n} layers, m[0] to m[{n - 1}] (m[-1] is the last)" if n else "no layers"
            raise IndexError(f"Chain index {index} is out of range: it has {held}.")
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter(self._layers)

    def append(self, layer: Callable[..., Any]) -> Chain:
        """Add ``layer`` at the end (registered under its position) and return the Chain.

        >>> Chain(Affine(2, 3)).append(relu)
        Chain(Affine(2 => 3), relu)  # 9 parameters
        """
        self._add(str(len(self._layers)), layer)
        return self

    def _parts(self) -> list[str]:
        parts = []
        for name, layer in zip(self._names, self._layers):
            shown = layer._inner_repr() if isinstance(layer, Chain) else callable_name(layer)
            parts.append(shown if name.isdigit() else f"{name} = {shown}")
        return parts

    def _inner_repr(self) -> str:
        return f"Chain({', '.join(self._parts())})"

    def __repr__(self) -> str:
        text = self._inner_repr()
        if len(text) > 100:
            text = "Chain(\n" + "".join(f"  {part},\n" for part in self._parts()) + ")"
        return with_count(text, self)


