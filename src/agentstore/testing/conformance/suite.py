"""The whole suite as one class: every scenario, for a backend's test class to subclass."""

from __future__ import annotations

from agentstore.testing.conformance.appends import AppendScenarios
from agentstore.testing.conformance.bad_input import BadInputScenarios
from agentstore.testing.conformance.base import StoreFixtures
from agentstore.testing.conformance.concurrency import ConcurrencyScenarios
from agentstore.testing.conformance.copies import CopyScenarios
from agentstore.testing.conformance.forks_of_process import ProcessForkScenarios
from agentstore.testing.conformance.lifecycle import LifecycleScenarios
from agentstore.testing.conformance.other_writers import OtherWriterScenarios
from agentstore.testing.conformance.read_only import ReadOnlyScenarios
from agentstore.testing.conformance.reads import ReadScenarios
from agentstore.testing.conformance.records import RecordScenarios
from agentstore.testing.conformance.repairs import RepairScenarios
from agentstore.testing.conformance.sessions import SessionScenarios
from agentstore.testing.conformance.state import StateScenarios
from agentstore.testing.conformance.streaming import StreamingScenarios
from agentstore.testing.conformance.versions import FormatVersionScenarios
from agentstore.testing.conformance.watch import ForkScenarios, WatchScenarios

__all__ = ["StoreConformance"]


class StoreConformance(
    SessionScenarios,
    LifecycleScenarios,
    AppendScenarios,
    ReadScenarios,
    StreamingScenarios,
    RecordScenarios,
    StateScenarios,
    ForkScenarios,
    WatchScenarios,
    ConcurrencyScenarios,
    CopyScenarios,
    OtherWriterScenarios,
    ProcessForkScenarios,
    FormatVersionScenarios,
    ReadOnlyScenarios,
    RepairScenarios,
    BadInputScenarios,
    StoreFixtures,
):
    """Every scenario of the suite; subclass it as ``Test<Backend>`` and provide ``open_store``."""
