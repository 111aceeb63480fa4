"""Every ```python block of every guide page in docs/ (and the README) runs, in order, so the docs never drift."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # pages that write files write them here
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, code in enumerate(blocks(page), 1):
        try:
            exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
        except Exception as err:
            err.add_note(f"in {page.name}, code block {number}:\n{code}")
            raise


def test_every_page_has_code() -> None:
    assert PAGES, "docs/ has no pages"
    for page in PAGES:
        if page.name != "internals.md":
            assert blocks(page), f"{page.name} has no ```python block to run"
