"""``collate``: a ``torch.utils.data.DataLoader`` collate function that yields ``Batch``es."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from fluxtorch.dims._batch import Batch


def collate(samples: Sequence[Any]) -> Any:
    """Stack a list of dataset samples into ``Batch``es: ``DataLoader(data, collate_fn=collate)``.

    A sample is one data point (a tensor, array, list of numbers or ``Seq``), or a tuple
    or dict of them (e.g. ``(x, y)`` pairs), which gives a tuple or dict of ``Batch``es.
    Python numbers become a ``Batch`` of scalars keeping their type (class labels stay
    integers).

    >>> xs, ys = collate([([1.0, 2.0], 0), ([3.0, 4.0], 1)])
    >>> xs.shape, ys.raw
    (torch.Size([2, 2]), tensor([0, 1]))
    """
    if len(samples) == 0:
        raise ValueError("collate needs at least one sample; got an empty list. Fix: collate([(x, y), ...]).")
    first = samples[0]
    if isinstance(first, tuple):
        fields = [collate(list(field)) for field in zip(*samples)]
        return type(first)(*fields) if hasattr(first, "_fields") else tuple(fields)
    if isinstance(first, dict):
        return {key: collate([sample[key] for sample in samples]) for key in first}
    if isinstance(first, (bool, int, float)):
        return Batch(torch.tensor(list(samples)))
    return Batch(list(samples))
