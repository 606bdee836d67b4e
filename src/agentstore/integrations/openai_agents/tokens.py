"""Token counts of the SDK's model spans and turns, and the arithmetic between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Tokens", "tokens_of"]


@dataclass(slots=True)
class Tokens:
    """Input, output and cached tokens, named as the recorder's arguments."""

    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __bool__(self) -> bool:
        return bool(self.tokens_in or self.tokens_out)

    def add(self, other: Tokens) -> None:
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens

    def minus(self, other: Tokens) -> Tokens:
        return Tokens(
            max(0, self.tokens_in - other.tokens_in),
            max(0, self.tokens_out - other.tokens_out),
            max(0, self.cache_read_tokens - other.cache_read_tokens),
            max(0, self.cache_write_tokens - other.cache_write_tokens),
        )

    def arguments(self) -> dict[str, int]:
        return asdict(self)  # the fields are named as the recorder's arguments


def tokens_of(usage: Mapping[str, Any] | None) -> Tokens:
    # Model spans say {"input_tokens", "output_tokens", "input_tokens_details":
    # {"cached_tokens", "cache_write_tokens"}}; turn spans {"cached_input_tokens", ...}.
    if not usage:
        return Tokens()
    details = usage.get("input_tokens_details") or {}
    return Tokens(
        int(usage.get("input_tokens") or 0),
        int(usage.get("output_tokens") or 0),
        int(details.get("cached_tokens") or usage.get("cached_input_tokens") or 0),
        int(details.get("cache_write_tokens") or usage.get("cache_write_input_tokens") or 0),
    )
