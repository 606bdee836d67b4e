"""The backend conformance suite: one narrated set of scenarios that every backend runs.

A behaviour of agentstore is implemented when it passes here on every backend. Subclass
:class:`StoreConformance` and override the ``open_store`` fixture; each call of the factory
it returns opens a store on the same data (the data outlives a closed store), and takes
the keyword options of :func:`agentstore.open` (``snapshot_interval``, ``reducer``, ...).
A backend that records a format version also overrides ``format_version``
(:class:`FormatVersion`), so that a store of a newer format is seen refused.
"""

from agentstore.testing.conformance.base import StoreFactory
from agentstore.testing.conformance.suite import StoreConformance
from agentstore.testing.conformance.versions import FormatVersion

__all__ = ["FormatVersion", "StoreConformance", "StoreFactory"]
