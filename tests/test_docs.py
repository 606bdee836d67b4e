"""The README and docs stay true: each of their Python examples runs, alone, as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .seed_figures import DATADIR
from .test_remote import Server

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
WITH_CODE = [path for path in DOCUMENTS if CODE_BLOCK.search(path.read_text(encoding="utf-8"))]


def test_every_document_is_found() -> None:
    names = {path.name for path in DOCUMENTS}
    assert {
        "README.md",
        "guide.md",
        "backends.md",
        "benchmarks.md",
        "scaling.md",
        "cli.md",
        "integrations.md",
        "server.md",
    } <= names
    assert {path.name for path in WITH_CODE} >= {
        "README.md",
        "guide.md",
        "backends.md",
        "integrations.md",
    }


# Each example runs alone, as a reader who copies only that one runs it: in a namespace of
# its own and a directory of its own. A document's examples share a process of their own:
# an example may change what a process holds once (the OpenAI Agents SDK's trace processors).
_RUN_EXAMPLES = """
import os, re, sys
from pathlib import Path

document = Path(sys.argv[1]).resolve()
pattern = re.compile(sys.argv[2], re.MULTILINE | re.DOTALL)
for number, block in enumerate(pattern.findall(document.read_text(encoding="utf-8")), start=1):
    directory = Path(sys.argv[3], str(number))
    directory.mkdir()
    os.chdir(directory)
    namespace = {"__name__": f"docs_{document.stem}_{number}"}
    exec(compile(block, f"{document.name} example {number}", "exec"), namespace)
"""


@pytest.mark.parametrize("document", WITH_CODE, ids=[path.name for path in WITH_CODE])
def test_python_examples_run(document: Path, tmp_path: Path) -> None:
    arguments = [str(document), CODE_BLOCK.pattern, str(tmp_path)]
    # The server's examples reach a server at the address they show.
    server = Server(str(tmp_path / "served"), port=8750) if document.name == "server.md" else None
    if server is not None:
        server.start()
    try:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", _RUN_EXAMPLES, *arguments],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        if server is not None:
            server.stop()
    assert done.returncode == 0, done.stderr


# The command line's examples: each `$ agentstore ...` line of a console block runs, in a
# directory whose ./agent-data holds the Go library's sessions, and prints what follows it
# (times of day, ids and durations that change from run to run are masked).

CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
AGENTSTORE = str(Path(sys.executable).parent / "agentstore")
_VARYING = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"\+\d+:\d\d(:\d\d)?\.\d{3}"), "+<elapsed>"),
    (re.compile(r"\b\d+(\.\d)? (ms|s)\b"), "<duration>"),
]


def mask(text: str) -> str:
    """``text`` with what differs between two runs of the same commands replaced."""
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text


def console_examples(text: str) -> list[tuple[str, str]]:
    """The (command, output) pairs of a document's console blocks, in order."""
    pairs: list[tuple[str, str]] = []
    for block in CONSOLE_BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                pairs.append((line[2:], ""))
            else:
                command, output = pairs[-1]
                pairs[-1] = (command, output + line + "\n")
    return pairs


def test_cli_examples_print_what_the_docs_show(tmp_path: Path) -> None:
    shutil.copytree(DATADIR, tmp_path / "agent-data")
    environment = {key: value for key, value in os.environ.items() if key != "AGENTSTORE_URL"}
    examples = console_examples((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert len(examples) >= 10
    for command, shown in examples:
        words = shlex.split(command)
        assert words[0] == "agentstore"
        done = subprocess.run(
            [AGENTSTORE, *words[1:]], cwd=tmp_path, capture_output=True, text=True, env=environment
        )
        assert done.returncode == 0, (command, done.stderr)
        assert mask(done.stdout) == mask(shown), command


def test_server_examples_answer_what_the_docs_show(tmp_path: Path) -> None:
    """Each ``$ curl ...`` line of docs/server.md, against a server of an empty store."""
    examples = console_examples((ROOT / "docs" / "server.md").read_text(encoding="utf-8"))
    assert len(examples) >= 7
    server = Server(str(tmp_path / "agent-data"), port=8750).start()
    try:
        for command, shown in examples:
            assert command.startswith("curl "), command
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, (command, done.stderr)
            assert mask(done.stdout) == mask(shown), command
    finally:
        server.stop()
