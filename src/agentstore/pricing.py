"""What an LLM call cost, from its model and tokens, by a maintained price table.

The table is the ``genai-prices`` package (``pip install agentstore[prices]``): prices per
provider and model with the dates they changed, so a call is priced as of when it was
made. Without the package, or for a model it does not know, nothing is priced and the
event keeps ``cost_usd`` 0 with no ``cost_source``: the state counts it as unpriced
rather than free.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentstore.events import Metadata

if TYPE_CHECKING:
    from genai_prices.types import PriceCalculation

__all__ = ["price", "price_source"]

_MISSES_LIMIT = 1024


def price(metadata: Metadata, *, at: datetime | None = None) -> Metadata:
    """Return ``metadata`` with ``cost_usd`` and ``cost_source`` filled from the price table.

    Only metadata with a model, some tokens and no cost is priced: a cost the caller gave
    always wins. ``provider`` narrows the lookup (and is filled in from the table when
    empty); a provider that does not list the model falls back to a match by model name.

    Args:
        metadata: an LLM call's metadata.
        at: when the call was made (default: now); prices change over time.

    Returns:
        The priced metadata, or ``metadata`` itself when it cannot or need not be priced.
    """
    if (
        metadata.cost_usd
        or metadata.cost_source
        or not metadata.model
        or not (metadata.tokens_in or metadata.tokens_out)
    ):
        return metadata
    calculation = _calculate(metadata, at)
    if calculation is None:
        return metadata
    return dataclasses.replace(
        metadata,
        cost_usd=float(calculation.total_price),
        cost_source=_source(calculation),
        provider=metadata.provider or calculation.provider.id,
    )


@functools.cache
def price_source() -> str | None:
    """Name and version of the price table, or None when ``genai-prices`` is not installed."""
    try:
        import genai_prices
    except ImportError:
        return None
    return f"genai-prices {genai_prices.__version__}"


_misses: set[tuple[str, str]] = set()


def _calculate(metadata: Metadata, at: datetime | None) -> PriceCalculation | None:
    if price_source() is None:
        return None
    from genai_prices import Usage, calc_price

    usage = Usage(
        input_tokens=metadata.tokens_in,
        output_tokens=metadata.tokens_out,
        cache_read_tokens=metadata.cache_read_tokens,
        cache_write_tokens=metadata.cache_write_tokens,
    )
    # Unknown models are common (local, fine-tuned, new) and the table searches every
    # provider before it gives up, so a miss is remembered.
    for provider in dict.fromkeys((metadata.provider or None, None)):
        key = (provider or "", metadata.model)
        if key in _misses:
            continue
        try:
            return calc_price(
                usage, metadata.model, provider_id=provider, genai_request_timestamp=at
            )
        except LookupError:
            if len(_misses) < _MISSES_LIMIT:
                _misses.add(key)
    return None


def _source(calculation: Any) -> str:
    source = price_source() or ""
    updated = calculation.auto_update_timestamp
    return source if updated is None else f"{source} (prices of {updated:%Y-%m-%d})"
