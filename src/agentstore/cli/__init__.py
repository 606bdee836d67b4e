"""The ``agentstore`` command line: inspect, replay, follow, fork, copy and verify sessions.

The commands only parse, call the library and format what it returns (see
:mod:`agentstore.cli.app`); ``python -m agentstore`` runs the same program.
"""

from __future__ import annotations

from agentstore.cli.app import cli, main

__all__ = ["cli", "main"]
