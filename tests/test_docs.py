"""The README and docs stay true: their Python examples run, in order, as one script per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
WITH_CODE = [path for path in DOCUMENTS if CODE_BLOCK.search(path.read_text(encoding="utf-8"))]


def test_every_document_is_found() -> None:
    names = {path.name for path in DOCUMENTS}
    assert {"README.md", "guide.md", "backends.md", "benchmarks.md", "scaling.md"} <= names
    assert {path.name for path in WITH_CODE} >= {"README.md", "guide.md", "backends.md"}


@pytest.mark.parametrize("document", WITH_CODE, ids=[path.name for path in WITH_CODE])
def test_python_examples_run(
    document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = CODE_BLOCK.findall(document.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{document.stem}"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{document.name} example {number}", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation is the point
