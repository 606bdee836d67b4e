"""The backend conformance suite: one narrated set of scenarios that every backend runs.

A behaviour of agentstore is implemented when it passes here on every backend. Subclass
:class:`StoreConformance` and override the ``open_store`` fixture; each call of the factory
it returns opens a store on the same data (the data outlives a closed store), and takes
the keyword options of :func:`agentstore.open` (``snapshot_interval``, ``reducer``, ...).
A backend that records a format version also overrides ``format_version``
(:class:`FormatVersion`), so that a store of a newer format is seen refused; a backend
whose data other programs write (files, database rows) overrides
``write_as_another_program`` (:class:`OtherWriter`), so that their events are read there;
a backend whose events are lines of a file overrides ``log_lines`` (:class:`LogLines`),
so that damaged logs are seen repaired; a backend whose data can be dumped whole (files,
rows) overrides ``stored_data`` (:class:`StoredData`), so that a read-only store is seen
to change nothing in it. The factory also takes ``read_only=True``.
"""

from agentstore.testing.conformance.base import StoreFactory
from agentstore.testing.conformance.other_writers import OtherWriter
from agentstore.testing.conformance.read_only import StoredData
from agentstore.testing.conformance.repairs import LogLines
from agentstore.testing.conformance.suite import StoreConformance
from agentstore.testing.conformance.versions import FormatVersion

__all__ = [
    "FormatVersion",
    "LogLines",
    "OtherWriter",
    "StoreConformance",
    "StoreFactory",
    "StoredData",
]
