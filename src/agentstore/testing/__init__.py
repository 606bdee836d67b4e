"""Test support for agentstore backends and applications (requires pytest).

:class:`StoreConformance` is the behaviour every backend must show. A backend's test module
subclasses it and says how to open a store::

    import agentstore
    import pytest
    from agentstore.testing import StoreConformance

    class TestMyBackend(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            return lambda **options: agentstore.open(tmp_path / "data", **options)
"""

from agentstore.testing.conformance import StoreConformance, StoreFactory

__all__ = ["StoreConformance", "StoreFactory"]
