"""Fixtures for the recurrence tests: run ``unroll`` with and without torch's fused kernels."""

import pytest

from fluxtorch.recurrent import _fused


@pytest.fixture(params=["fused", "generic"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``unroll`` through torch's fused LSTM/RNN kernels, or stepping each cell's equations."""
    if request.param == "generic":
        monkeypatch.setattr(_fused, "FUSED", {})
        monkeypatch.setattr("fluxtorch.recurrent._run.FUSED", {})
    return request.param
