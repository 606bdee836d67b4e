"""Format versions: a store written by a newer agentstore is refused, untouched.

A backend that records the version of its format (SQLite's ``PRAGMA user_version``,
PostgreSQL's ``schema_version`` table) refuses to open data of a newer version than it
knows, with :class:`~agentstore.StoreVersionError` naming both versions, before it reads
or writes anything: an older library must not misread, or migrate, what a newer one
wrote. A backend's test class tells the scenario how to change the version by overriding
the ``format_version`` fixture; the scenario is skipped for backends that keep none.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from agentstore import StoreVersionError
from agentstore.testing.conformance.base import StoreFactory, history, record


class FormatVersion(Protocol):
    """Reads, or sets then reads, the format version of the data the store factory opens."""

    def __call__(self, version: int | None = None, /) -> int: ...


class FormatVersionScenarios:
    @pytest.fixture
    def format_version(self) -> FormatVersion | None:
        """Override in a backend that keeps a format version (see :class:`FormatVersion`)."""
        return None

    def test_a_store_of_a_newer_format_is_refused_and_left_untouched(
        self, open_store: StoreFactory, format_version: FormatVersion | None
    ) -> None:
        if format_version is None:
            pytest.skip("this backend keeps no format version")
        with open_store() as store:
            session = store.create_session(name="written by us")
            record(store, session.id, 3)
            before = history(store, session.id)
        written = format_version()
        newer = format_version(written + 98)
        with pytest.raises(StoreVersionError) as refused:
            open_store()
        assert (refused.value.found, refused.value.supported) == (newer, written)
        assert f"version {newer}" in str(refused.value)
        assert f"version {written}" in str(refused.value)
        assert format_version() == newer  # not migrated, not rewritten
        format_version(written)  # as a library of this version left it
        with open_store() as store:
            assert history(store, session.id) == before
            assert store.get_session(session.id).name == "written by us"

    def test_a_store_of_this_format_opens_again_and_again(
        self, open_store: StoreFactory, format_version: FormatVersion | None
    ) -> None:
        if format_version is None:
            pytest.skip("this backend keeps no format version")
        open_store().close()
        written = format_version()
        for _ in range(3):
            open_store().close()
        assert format_version() == written
