"""The ``agentstore`` command line: inspect, replay, follow, fork, copy, verify and tidy sessions.

The commands only parse, call the library and format what it returns (see
:mod:`agentstore.cli.app` and :mod:`agentstore.cli.housekeeping`); ``python -m agentstore``
runs the same program.
"""

from __future__ import annotations

from agentstore.cli import exporting, housekeeping, serving  # noqa: F401 - their commands join the group
from agentstore.cli.app import cli, main

__all__ = ["cli", "main"]
