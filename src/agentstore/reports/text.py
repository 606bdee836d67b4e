"""Text for people: stored data made safe to show on a terminal, and counted nouns (pure).

What an agent stored is untrusted where it is shown: a name, a label, a payload or a tool
name may hold an escape sequence that clears a terminal, rings its bell, moves its cursor
or reverses the direction of the text after it, or a newline that forges a row of a
table. :func:`printable` shows each such character as an escape (``\\x1b``, ``\\n``,
``\\u202e``) instead; JSON output needs none of this and stays exact.
"""

from __future__ import annotations

__all__ = ["plural", "printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every character a terminal would act on shown as an escape.

    Control characters (C0, DEL and C1) and the other characters Unicode does not print
    (format characters such as bidirectional overrides, separators other than the space)
    become ``\\xNN``, ``\\uNNNN`` or ``\\n``-style escapes, so a field stays on one line.
    With ``lines``, newlines are kept (a message of several lines).
    """
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(_shown(character, lines) for character in text)


def _shown(character: str, lines: bool) -> str:
    if character.isprintable() or (lines and character == "\n"):
        return character
    named = _NAMED.get(character)
    if named is not None:
        return named
    code = ord(character)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def plural(count: int, noun: str) -> str:
    """``1 session``, ``2 sessions``: a count with its noun, thousands separated."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
