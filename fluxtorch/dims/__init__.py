"""Data dimensions made explicit: ``Batch`` and ``Seq``, and ``map`` over them."""

from fluxtorch.dims._batch import Batch, Seq, Stacked, batchone, rawbatch, tobatch, unbatchone
from fluxtorch.dims._collate import collate
from fluxtorch.dims._map import map  # noqa: A004  (fluxtorch.map; the builtin stays in every module)

__all__ = ["Batch", "Seq", "Stacked", "batchone", "collate", "map", "rawbatch", "tobatch", "unbatchone"]
