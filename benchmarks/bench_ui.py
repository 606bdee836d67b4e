"""The web timeline's weight and first paint, in headless Chromium.

Usage: ``python benchmarks/bench_ui.py [--quick] [--dir DIR] [--loads N]``.

Method: ``agentstore serve`` (a subprocess) over a JSONL directory of 1,000 sessions, one
of them with 10,000 events of about 300 bytes (LLM answers and tool calls, as
``bench_cli.py`` records). The page weight is the sum of the bytes of the page's files
as served (``index.html`` and every asset, uncompressed). Each load is a fresh browser
context (an empty cache), as a first visit; the figures are the browser's own
performance timings of that load: ``first-contentful-paint``, and the marks the page sets
once the first rows of a view are on screen (``agentstore:first-rows``,
``agentstore:sessions``) and once the whole session is loaded (``agentstore:all-rows``),
all from the start of the navigation. Scrolling: the timeline's scroller is moved by a
screen's height every frame for 120 frames, and the time between frames is measured in
the page (a smooth scroll keeps it near 16.7 ms). Medians and the slowest of the loads.
Targets: the page under 300 KB, the first rows of a 10,000-event session under 1 s.

Debian's Chromium (``/usr/bin/chromium``) and Playwright (the dev extra) are needed for
the browser figures; without them only the weight is measured.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

import agentstore
from agentstore import EventType, Metadata, Store, new_event
from agentstore.server.pages import asset_names

CHROMIUM = "/usr/bin/chromium"
SCROLL = """async () => {
    const list = document.querySelector(".events");
    const gaps = [];
    let last = performance.now();
    for (let frame = 0; frame < 120; frame += 1) {
        list.scrollTop += list.clientHeight;
        await new Promise((resolve) => requestAnimationFrame(resolve));
        const now = performance.now();
        gaps.push(now - last);
        last = now;
    }
    gaps.sort((a, b) => a - b);
    return [gaps[Math.floor(gaps.length * 0.95)], document.querySelectorAll(".event-row").length];
}"""


def _event(k: int) -> agentstore.Event:
    if k % 2:
        return new_event(
            EventType.LLM_RESPONSE,
            {"content": f"Step {k}: the two cheapest flights are LH1234 and EW5678."},
            metadata=Metadata(model="gpt-4o", tokens_in=850, tokens_out=120, cost_usd=0.0042),
        )
    return new_event(
        EventType.TOOL_CALLED,
        {"tool": "search_flights", "query": "BER → MUC", "date": "2026-12-04", "k": k},
        metadata=Metadata(tool_name="search_flights", duration_ms=230),
    )


def fill(store: Store, sessions: int, events: int) -> str:
    """``sessions`` sessions of 3 events, and one of ``events``; returns the big one's id."""
    for n in range(sessions - 1):
        session = store.create_session(name=f"run-{n}", labels={"agent": f"a{n % 10}"})
        store.append_batch(session.id, [_event(k) for k in range(3)])
    big = store.create_session(name="the long one", labels={"agent": "research"})
    for start in range(0, events, 1000):
        store.append_batch(big.id, [_event(k) for k in range(start, min(start + 1000, events))])
    return big.id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "agentstore", "--store", target, "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url + "/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start in 30 s")


def page_weight(url: str) -> tuple[int, int]:
    """The bytes of the page's files as served, and how many files."""
    names = asset_names()
    total = len(httpx2.get(url + "/", timeout=5).content)
    for name in names:
        if name != "index.html":
            answer = httpx2.get(f"{url}/assets/{name}", timeout=5)
            answer.raise_for_status()
            total += len(answer.content)
    return total, len(names)


def browser_figures(url: str, session_id: str, loads: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {}

    def keep(name: str, value: Any) -> None:
        figures.setdefault(name, []).append(float(value))

    mark = "performance.getEntriesByName({!r})[0].startTime"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(f"{url}/sessions/{session_id}")
            page.wait_for_function(
                "() => performance.getEntriesByName('agentstore:all-rows').length > 0"
            )
            keep(
                "first contentful paint, ms",
                page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0].startTime"
                ),
            )
            keep(
                "session: first rows shown, ms", page.evaluate(mark.format("agentstore:first-rows"))
            )
            keep(
                "session: every event loaded, ms", page.evaluate(mark.format("agentstore:all-rows"))
            )
            gap, rows = page.evaluate(SCROLL)
            keep("scroll: 95th percentile frame, ms", gap)
            keep("scroll: rows in the DOM", rows)
            page.goto(f"{url}/")
            page.wait_for_function(
                "() => performance.getEntriesByName('agentstore:sessions').length > 0"
            )
            keep(
                "sessions list: first rows shown, ms",
                page.evaluate(mark.format("agentstore:sessions")),
            )
            context.close()
        browser.close()
    return figures


#: What the browser measures, and the targets.
BROWSER_FIGURES = {
    "first contentful paint, ms": "",
    "session: first rows shown, ms": "< 1000",
    "session: every event loaded, ms": "",
    "scroll: 95th percentile frame, ms": "",
    "scroll: rows in the DOM": "",
    "sessions list: first rows shown, ms": "",
}


def _missing_browser() -> str:
    """Why the browser figures cannot be measured here ("" when they can)."""
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM}: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "no Playwright: pip install -e '.[dev]'"
    return ""


def report(name: str, values: list[float], target: str = "") -> None:
    median, slowest = statistics.median(values), max(values)
    print(f"{name:<40} {median:>9,.0f} {slowest:>9,.0f}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a small store, 2 loads (a smoke test)"
    )
    parser.add_argument("--dir", default=None, help="where to build the store")
    parser.add_argument("--loads", type=int, default=7, help="page loads measured")
    options = parser.parse_args()
    sessions, events, loads = (60, 2_000, 2) if options.quick else (1_000, 10_000, options.loads)
    with tempfile.TemporaryDirectory(dir=options.dir) as root:
        target = os.path.join(root, "agent-data")
        with agentstore.open(target) as store:
            big = fill(store, sessions, events)
        process, url = serve(target)
        try:
            weight, files = page_weight(url)
            print(f"web timeline, {sessions:,} sessions, one of {events:,} events ({loads} loads)")
            print(f"{'figure':<40} {'median':>9} {'slowest':>9}  target")
            report(f"page weight, KB ({files} files)", [weight / 1000], "< 300")
            missing = _missing_browser()
            if missing:
                for name in BROWSER_FIGURES:
                    print(f"{name:<40} {'-':>9} {'-':>9}  ({missing})")
                return
            figures = browser_figures(url, big, loads)
            for name, target in BROWSER_FIGURES.items():
                report(name, figures[name], target)
        finally:
            process.terminate()
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
