"""What `pip install agentstore` gives: its metadata, its extras, and what a missing one says."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# Run in a fresh interpreter, where the modules named in `hidden` cannot be imported, as
# in an environment where agentstore was installed without the extra that brings them.
_WITHOUT = """
import importlib.abc, sys

class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Hidden())
try:
    import {module}
except ModuleNotFoundError as error:
    print(error)
else:
    print("imported")
"""


def _import_without(module: str, hidden: set[str]) -> str:
    code = textwrap.dedent(_WITHOUT.format(module=module, hidden=hidden))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("agentstore.integrations.langchain", {"langchain_core"}, "langchain"),
        ("agentstore.integrations.langchain.runs", {"langchain_core"}, "langchain"),
        ("agentstore.integrations.openai_agents", {"agents"}, "openai-agents"),
        ("agentstore.integrations.openai_agents.session", {"agents"}, "openai-agents"),
        ("agentstore.testing", {"pytest"}, "testing"),
        ("agentstore.server", {"starlette"}, "server"),
        ("agentstore.server.serving", {"uvicorn"}, "server"),
    ],
)
def test_a_missing_extra_names_the_install_command(
    module: str, hidden: set[str], extra: str
) -> None:
    said = _import_without(module, hidden)
    assert f"pip install 'agentstore[{extra}]'" in said
    assert "No module named" in said  # what is missing, still said
    assert extra in PROJECT["optional-dependencies"]


def test_every_integration_imports_with_its_extra() -> None:
    for module in ("agentstore.integrations.langchain", "agentstore.integrations.openai_agents"):
        assert _import_without(module, set()) == "imported"


def test_the_testing_extra_brings_what_agentstore_testing_imports() -> None:
    needs = PROJECT["optional-dependencies"]["testing"]
    assert any(requirement.startswith("pytest") for requirement in needs)
    assert "agentstore[testing]" in (ROOT / "docs" / "backends.md").read_text(encoding="utf-8")


def test_the_package_metadata_names_its_license_and_home() -> None:
    installed = importlib.metadata.distribution("agentstore")
    assert installed.metadata["License-Expression"] == "Apache-2.0"
    (license_file,) = [f for f in installed.files or [] if f.name == "LICENSE"]
    license_text = license_file.read_text(encoding="utf-8")
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    urls = dict(url.split(", ", 1) for url in installed.metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


_OPEN_WITHOUT_CLIENT = """
import importlib.abc, sys

class Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hidden())
import agentstore
try:
    agentstore.open("http://127.0.0.1:1")
except agentstore.InvalidArgumentError as error:
    print(error)
"""


@pytest.mark.parametrize("hidden", ["httpx2", "httpcore2"])
def test_a_server_url_without_the_client_extra_names_the_install_command(hidden: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"HIDDEN = {hidden!r}\n{_OPEN_WITHOUT_CLIENT}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "pip install 'agentstore[client]'" in done.stdout
    assert "client" in PROJECT["optional-dependencies"]


def test_the_base_install_needs_neither_the_server_nor_the_client() -> None:
    code = (
        "import agentstore, agentstore.cli, sys; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('httpx2', 'httpcore2', 'starlette', 'uvicorn')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
