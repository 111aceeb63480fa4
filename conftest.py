"""Test-wide set-up: names every docstring example may use, and CUDA skipping."""

import pytest
import torch

import fluxtorch


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    doctest_namespace.update({"torch": torch, "fluxtorch": fluxtorch, "np": __import__("numpy")})
    doctest_namespace.update({name: getattr(fluxtorch, name) for name in fluxtorch.__all__})


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
