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
from typing import TYPE_CHECKING

from agentstore.events import Metadata

if TYPE_CHECKING:
    from genai_prices.types import PriceCalculation

__all__ = ["price", "price_source"]

_MISSES_LIMIT = 1024
# Runtimes that serve models on the caller's own machines: what a call costs there is not
# in any price table, whatever the model's name.
_LOCAL_RUNTIMES = frozenset(
    {"ollama", "llamacpp", "llama.cpp", "llama-cpp", "vllm", "lmstudio", "lm-studio", "local"}
)


def price(metadata: Metadata, *, at: datetime | None = None) -> Metadata:
    """Return ``metadata`` with ``cost_usd`` and ``cost_source`` filled from the price table.

    Only metadata with a model, some tokens and no cost is priced: a cost the caller gave
    always wins. A ``provider`` the table lists must list the model; one it does not
    know is matched by model name, except local runtimes (Ollama, llama.cpp, vLLM, LM
    Studio), which are never priced. An empty ``provider`` is filled in from the table.

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

    provider = _table_provider(metadata.provider)
    key = (provider or "", metadata.model)
    # Unknown models are common (local, fine-tuned, new) and the table searches every
    # provider before it gives up, so a miss is remembered.
    if provider == "" or key in _misses:
        return None
    usage = Usage(
        input_tokens=metadata.tokens_in,
        output_tokens=metadata.tokens_out,
        cache_read_tokens=metadata.cache_read_tokens,
        cache_write_tokens=metadata.cache_write_tokens,
    )
    try:
        return calc_price(usage, metadata.model, provider_id=provider, genai_request_timestamp=at)
    except LookupError:
        if len(_misses) < _MISSES_LIMIT:
            _misses.add(key)
        return None
    except ValueError:  # usage the table cannot price (its own checks): unpriced, not lost
        return None


@functools.lru_cache(maxsize=256)
def _table_provider(provider: str) -> str | None:
    """The provider to look the model up under: None to match by model name, "" for none.

    A provider the table lists is held to (the model must be one of its models: another
    provider's price for the same name would be a guess). A name the table does not know
    may be another spelling of one it does (LangChain's ``google_genai``), so the model
    name decides, except for runtimes that serve models on the caller's own machines.
    """
    if not provider:
        return None
    if provider.lower() in _LOCAL_RUNTIMES:
        return ""
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    known = find_provider_by_id(get_snapshot().providers, provider)
    return None if known is None else known.id


def _source(calculation: PriceCalculation) -> str:
    source = price_source() or ""
    updated = calculation.auto_update_timestamp
    return source if updated is None else f"{source} (prices of {updated:%Y-%m-%d})"
