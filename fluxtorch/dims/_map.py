"""``map(f, batch)``: a per-data-point function applied to a whole ``Batch`` at once.

The function is vectorised with ``torch.func.vmap``: it runs once, on the stacked
tensor, not once per data point.  Given anything other than a ``Batch``/``Seq``,
``fluxtorch.map`` is the builtin ``map``, so ``from fluxtorch import *`` breaks nothing.
"""

from __future__ import annotations

import builtins
from typing import Any, Callable

import torch
from torch import Tensor

from fluxtorch.dims._batch import Stacked


def map(f: Callable[..., Any], *iterables: Any) -> Any:  # noqa: A001  (shadows builtins.map on purpose)
    """Apply ``f`` to every data point of a ``Batch`` (or ``Seq``), vectorised; returns the same kind.

    ``f`` is written for one data point and gets what iterating would give (a tensor,
    or a ``Seq`` for a ``Batch`` of ``Seq``s).  Several batches of equal length are
    mapped together.  On anything else this is the builtin ``map``.

    >>> xs = Batch([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    >>> map(torch.flatten, xs)
    2-element Batch of Tensor(4,):
     [1, 2, 3, 4]
     [5, 6, 7, 8]
    >>> list(map(str, [1, 2]))
    ['1', '2']
    """
    stacked = [x for x in iterables if isinstance(x, Stacked)]
    if not stacked:
        return builtins.map(f, *iterables)
    if len(stacked) != len(iterables):
        kinds = ", ".join(type(x).__name__ for x in iterables)
        raise TypeError(
            f"fluxtorch.map maps over Batches and Seqs together, not mixed with other iterables "
            f"(got {kinds}). Fix: wrap each in Batch(...) or use the builtin map."
        )
    sizes = {len(x) for x in stacked}
    if len(sizes) > 1:
        raise ValueError(
            f"fluxtorch.map needs batches of one length; got lengths {sorted(sizes)}. "
            f"Fix: crop or pad them to one length first."
        )
    outer = type(stacked[0])
    out_inner: list[Any] = []

    def per_point(*raws: Tensor) -> Any:
        points = [x._inner[0]._wrap(r, x._inner[1:]) if x._inner else r for x, r in zip(stacked, raws)]
        result = f(*points)
        out_inner.append(_kinds(result))
        return _raws(result)

    try:
        out = torch.func.vmap(per_point)(*(x.raw for x in stacked))
    except Exception as err:
        err.add_note(
            f"fluxtorch.map runs {getattr(f, '__name__', 'the function')} once on all data points with "
            f"torch.func.vmap; a function that needs Python values per data point (.item(), if on a "
            f"value) cannot be vectorised: use the builtin map, or list comprehension, instead."
        )
        raise
    return _restack(out, out_inner[0], outer)


def _kinds(result: Any) -> Any:
    if isinstance(result, Stacked):
        return (type(result), *result._inner)
    if isinstance(result, tuple):
        return tuple(_kinds(r) for r in result)
    return ()


def _raws(result: Any) -> Any:
    if isinstance(result, Stacked):
        return result.raw
    if isinstance(result, tuple):
        return tuple(_raws(r) for r in result)
    if not isinstance(result, Tensor):
        raise TypeError(
            f"fluxtorch.map expected the function to return a tensor (or a Seq, or a tuple of "
            f"them) for each data point, got {type(result).__name__}. Fix: return a tensor, "
            f"e.g. torch.as_tensor(value)."
        )
    return result


def _restack(out: Any, kinds: Any, outer: type[Stacked]) -> Any:
    if isinstance(out, tuple):
        return tuple(_restack(o, k, outer) for o, k in zip(out, kinds))
    return outer._wrap(out, kinds)
