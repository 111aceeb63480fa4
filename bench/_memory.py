"""Honest memory figures for CPU runs, where tracemalloc cannot see torch's allocations.

* ``saved_for_backward``: bytes of the distinct tensors autograd keeps for the backward
  pass (found with ``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage,
  parameters and inputs left out): the activation memory a training step holds at its peak.
* ``peak_rss_growth``: how far the process's resident memory peak (``VmHWM``, reset through
  ``/proc/self/clear_refs``) rises above where it stood while ``fn`` runs. Large tensors are
  mapped fresh from the OS, so a real activation of many MiB shows; small ones may come
  from memory malloc already holds, so this is an upper-bound check, not an exact count.
* ``cuda_peak``: ``torch.cuda.max_memory_allocated`` growth, the exact figure on a GPU.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor


def saved_for_backward(forward: Callable[[], Tensor], exclude: Iterable[Tensor] = ()) -> int:
    """Bytes of the distinct non-parameter tensors saved for backward while ``forward`` runs.

    >>> w = torch.ones(3, requires_grad=True)
    >>> saved_for_backward(lambda: (w * torch.ones(1000, 3)).exp().sum(), exclude=[w])
    24000
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip and not isinstance(t, torch.nn.Parameter):
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    del out
    return sum(seen.values())


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_growth(fn: Callable[[], object]) -> int | None:
    """Bytes by which the resident-memory peak rises during ``fn()``; None off Linux."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as refs:
            refs.write("5")  # resets VmHWM to the current VmRSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) * 1024


def cuda_peak(fn: Callable[[], object]) -> int:
    """Bytes by which CUDA's allocated-memory peak rises above the current allocation during ``fn()``."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base
