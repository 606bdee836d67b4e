"""Stores in a forked process: each backend opens its own files and connections there.

A process made by ``os.fork()`` (a pre-forking server's workers, a ``multiprocessing``
pool with the "fork" start method) starts with copies of everything its parent opened:
the same open files, with their ``flock`` locks, the same sockets, copies of the locks
that the parent's other threads held at that moment, but none of those threads. A store
that went on using them would write into the parent's log under the parent's lock, or
send queries down the parent's socket, interleaved with the parent's own.

So a backend registers here with :func:`reopen_after_fork`; right after a fork, in the
child, alone, before any other code runs there, its ``after_fork_in_child`` sets aside
what it inherited and leaves its own files, connections, locks and threads to be opened
when the child first uses it, as if the child had opened the store. What it sets aside
is left open and untouched, not closed (:func:`set_aside`): closing a SQLite connection
or a PostgreSQL session that the parent still uses would disturb the parent.

A check of the process id at every call would do the same, for a system call on every
append; this costs nothing until a fork.

Some state cannot be set aside: SQLite keeps the locks of all of a process's connections
to a file in memory they share, so a connection that another thread had inside a
transaction at the fork would hold its lock in the child forever. Such a backend also
registers with :func:`pause_for_forks`: a fork waits until it is between calls.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any, Protocol

__all__ = ["Pausing", "Reopening", "forget", "pause_for_forks", "reopen_after_fork", "set_aside"]

log = logging.getLogger("agentstore")


class Reopening(Protocol):
    """A backend (or part of one) that opens its own resources in a forked child."""

    def after_fork_in_child(self) -> None:
        """Set aside what the parent opened; open anew on first use.

        Runs in the child right after the fork, in its only thread: it takes no lock (one
        the parent's threads held is never released here) and opens nothing.
        """


class Pausing(Protocol):
    """A backend that must be between calls when the process forks."""

    def pause_for_fork(self) -> None:
        """Wait for the calls under way to end; start none until :meth:`resume_after_fork`."""

    def resume_after_fork(self) -> None:
        """Let calls start again (in the parent; the child has reopened)."""


_registered: weakref.WeakSet[Any] = weakref.WeakSet()
_pausing: weakref.WeakSet[Any] = weakref.WeakSet()
_paused: list[Any] = []  # those paused by the fork under way (strong: they must resume)

#: What children found open and must leave alone, kept for the life of the process so
#: that the garbage collector never closes it either.
_inherited: list[object] = []


def reopen_after_fork(resource: Reopening) -> None:
    """Call ``resource.after_fork_in_child()`` in every process forked from now on."""
    _registered.add(resource)


def pause_for_forks(resource: Pausing) -> None:
    """Have every fork from now on wait until ``resource`` is between calls."""
    _pausing.add(resource)


def forget(resource: object) -> None:
    """Leave ``resource`` out of forks from now on (it was closed)."""
    _registered.discard(resource)
    _pausing.discard(resource)


def set_aside(*resources: object) -> None:
    """Keep what the parent opened alive, unused and unclosed, in this (forked) process."""
    _inherited.extend(resources)


def _before_fork() -> None:
    _paused[:] = list(_pausing)
    for resource in _paused:
        resource.pause_for_fork()


def _after_fork_in_parent() -> None:
    paused, _paused[:] = list(_paused), []
    for resource in paused:
        resource.resume_after_fork()


def _after_fork_in_child() -> None:
    _paused.clear()  # what paused them was the parent's: the child reopens its own
    for resource in list(_registered):
        try:
            resource.after_fork_in_child()
        except Exception:  # one backend's failure must not leave the others to the parent
            log.exception("agentstore: %r could not reopen after a fork", resource)


if hasattr(os, "register_at_fork"):  # POSIX: fork exists there only
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
