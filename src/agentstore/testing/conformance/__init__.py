"""The backend conformance suite: one narrated set of scenarios that every backend runs.

A behaviour of agentstore is implemented when it passes here on every backend. Subclass
:class:`StoreConformance` and override the ``open_store`` fixture; each call of the factory
it returns opens a store on the same data (the data outlives a closed store), and takes
the keyword options of :func:`agentstore.open` (``snapshot_interval``, ``reducer``, ...).
"""

from agentstore.testing.conformance.appends import AppendScenarios
from agentstore.testing.conformance.bad_input import BadInputScenarios
from agentstore.testing.conformance.base import StoreFactory, StoreFixtures
from agentstore.testing.conformance.concurrency import ConcurrencyScenarios
from agentstore.testing.conformance.copies import CopyScenarios
from agentstore.testing.conformance.reads import ReadScenarios
from agentstore.testing.conformance.sessions import SessionScenarios
from agentstore.testing.conformance.state import StateScenarios
from agentstore.testing.conformance.watch import ForkScenarios, WatchScenarios

__all__ = ["StoreConformance", "StoreFactory"]


class StoreConformance(
    SessionScenarios,
    AppendScenarios,
    ReadScenarios,
    StateScenarios,
    ForkScenarios,
    WatchScenarios,
    ConcurrencyScenarios,
    CopyScenarios,
    BadInputScenarios,
    StoreFixtures,
):
    """Every scenario of the suite; subclass it as ``Test<Backend>`` and provide ``open_store``."""
