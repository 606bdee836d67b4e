"""The web timeline in a real browser: headless Chromium driven by Playwright, against an
``agentstore serve`` process, as a user opens it.

Every scenario fails on any console error or uncaught page error, and on any request
to another origin than the server (the page works offline), and saves a screenshot under
``test-artifacts/ui/``. The browser is Debian's Chromium (``/usr/bin/chromium``; CI
installs it): without it the browser scenarios are skipped, and say why. The page's
headers and the ``agentstore ui`` command are checked without a browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

import agentstore
from agentstore import Store, new_event
from agentstore.metadata import Metadata
from agentstore.reports.summaries import summarize
from agentstore.server import create_app
from agentstore.server.pages import CONTENT_SECURITY_POLICY, asset_names
from tests.test_remote import Server, free_port

pytest.importorskip("playwright.sync_api", reason="the browser tests need the dev extra")

from playwright.sync_api import (
    Browser,
    BrowserType,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
TOKEN = "ui-write-token-0123456789"  # noqa: S105 - the tests' own
READ_TOKEN = "ui-read-token-0123456789"  # noqa: S105
XSS_NAME = '<img src=x onerror="window.__xss = 1">'
XSS_TEXT = '<script>window.__xss = 2</script><img src=x onerror="window.__xss = 3">'

needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: the browser tests drive Debian's Chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


# The browser: Debian's Chromium, never one Playwright downloads. Playwright, started for
# this module and stopped after it: between its calls the sync API leaves its event loop
# marked as running in this thread, which the asyncio code of later modules must not see.


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="module")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**options: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **options})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def base_url() -> None:
    """None: each test names its server's address (this also keeps pytest-playwright's own
    fixture, which pytest 9 warns about, unused)."""
    return


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 800}}


def _record(store: Store, session_id: str, name: str, labels: dict[str, str]) -> None:
    """A flight-search agent's 17 events: tool calls and LLM calls with their answers."""
    store.create_session(id=session_id, name=name, labels=labels)

    def add(kind: str, payload: dict[str, Any], **metadata: Any) -> agentstore.Event:
        given = Metadata(**metadata) if metadata else None
        return store.append(session_id, new_event(kind, payload, metadata=given))

    add("user_message", {"content": "Berlin to Munich, Friday"})  # 1
    add("plan_created", {"steps": ["search_flights", "summarise", "book_flight"]})  # 2
    for page in range(3):  # 3-14
        call = add(
            "tool_called",
            {"tool": "search_flights", "arguments": {"route": "BER-MUC", "page": page}},
            tool_name="search_flights",
        )
        add(
            "tool_result",
            {"tool": "search_flights", "result": [{"id": f"LH{page}", "price": 89.5 + page}]},
            tool_name="search_flights",
            duration_ms=640 + page,
            cause_id=call.id,
        )
        request = add(
            "llm_request",
            {"model": "gpt-4o", "request": {"messages": [{"content": f"Summarise page {page}"}]}},
            model="gpt-4o",
        )
        add(
            "llm_response",
            {"content": f"Two flights on page {page}"},
            model="gpt-4o",
            tokens_in=850,
            tokens_out=120,
            cost_usd=0.0031,
            duration_ms=1200,
            cause_id=request.id,
        )
    booking = add(
        "tool_called",
        {"tool": "book_flight", "arguments": {"flight": "EW5678"}},
        tool_name="book_flight",
    )
    add(  # 16
        "error",
        {"error": "booking API timed out after 30s", "error_type": "TimeoutError"},
        tool_name="book_flight",
        duration_ms=30000,
        cause_id=booking.id,
    )
    add("state_updated", {"status": "waiting for the booking API"})  # 17


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("ui")
    (folder / "token").write_text(TOKEN + "\n", encoding="utf-8")
    (folder / "read-token").write_text(READ_TOKEN + "\n", encoding="utf-8")
    tokens = [
        "--token-file",
        str(folder / "token"),
        "--read-token-file",
        str(folder / "read-token"),
    ]
    served = Server(str(folder / "data"), *tokens).start()
    with agentstore.open(served.url, token=TOKEN) as store:
        for n in range(3):
            store.create_session(id=f"older-{n}", name=f"older run {n}", labels={"batch": "a"})
            store.append(f"older-{n}", new_event("user_message", {"content": f"run {n}"}))
        _record(store, "flight-search", "flight-search", {"agent": "travel"})
        store.create_session(id="big", name="ten thousand events")
        kinds = ("user_message", "tool_called", "tool_result", "llm_response")
        events = [new_event(kinds[n % 4], {"content": f"step {n}", "n": n}) for n in range(10_000)]
        for start in range(0, len(events), 2000):
            store.append_batch("big", events[start : start + 2000])
    yield served
    served.stop()


class Watched:
    """A page whose console errors, page errors and requests elsewhere are collected."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("request", lambda request: self._request(request.url, origin))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _request(self, url: str, origin: str) -> None:
        if not url.startswith(origin + "/") and not url.startswith("data:"):
            self.problems.append(f"a request to another origin: {url}")


@pytest.fixture
def ui(page: Page, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The browser's page, failing the test on any console error; a screenshot after."""
    watched = Watched(page, server.url)
    yield page
    _screenshot(page, request.node.originalname.removeprefix("test_"))
    page.wait_for_timeout(200)  # what the last action set off has reported
    assert watched.problems == []


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def _open(page: Page, server: Server, path: str, token: str = TOKEN) -> None:
    page.goto(f"{server.url}{path}#token={token}")


def _rows(page: Page) -> Any:
    return page.locator(".event-row")


@needs_browser
def test_the_list_shows_the_sessions_newest_first_and_finds_them(ui: Page, server: Server) -> None:
    _open(ui, server, "/")
    expect(ui.locator(".live")).to_have_text("Live")
    assert "token" not in ui.url  # moved to the tab's storage, out of the address bar
    rows = ui.locator(".sessions-table tbody tr")
    expect(rows.first).to_be_visible()
    ids = rows.evaluate_all("rows => rows.map(row => row.dataset.id)")
    assert ids[:5] == ["big", "flight-search", "older-2", "older-1", "older-0"]
    flight = ui.locator('tr[data-id="flight-search"]')
    expect(flight.locator(".session-link")).to_have_text("flight-search")
    cells = flight.locator("td").all_inner_texts()
    assert cells[1:6] == ["agent=travel", "17", "2,910", "$0.0093", "1"]
    expect(flight.locator(".col-activity time")).to_have_text("just now")

    ui.keyboard.press("/")
    expect(ui.locator("#session-search")).to_be_focused()
    ui.keyboard.type("older run 1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", "older-1")
    assert "q=older+run+1" in ui.url
    ui.keyboard.press("Escape")
    ui.locator("#session-search").fill("")
    ui.locator('tr[data-id="older-2"] .label-chip').click()  # a label filters the list
    expect(ui.locator("#label-filter")).to_have_value("batch=a")
    expect(rows).to_have_count(3)
    ui.locator("#label-filter").fill("")
    expect(rows).to_have_count(5)

    ui.keyboard.press("Escape")  # out of the field: the keys move through the list
    ui.keyboard.press("j")
    ui.keyboard.press("j")
    expect(ui.locator("tr.active")).to_have_attribute("data-id", "flight-search")
    _screenshot(ui, "sessions")
    ui.keyboard.press("Enter")
    expect(ui).to_have_url(re.compile(r"/sessions/flight-search$"))


@needs_browser
def test_the_list_pages_through_sessions_and_shows_new_ones_live(ui: Page, server: Server) -> None:
    _open(ui, server, "/")
    expect(ui.locator(".live")).to_have_text("Live")
    rows = ui.locator(".sessions-table tbody tr")
    expect(rows).to_have_count(5)
    with agentstore.open(server.url, token=TOKEN) as store:
        for n in range(50):  # past a page of the list
            store.create_session(id=f"paged-{n:02d}", name=f"paged {n}")
        store.append("paged-49", new_event("user_message", {"content": "hello"}))
    expect(rows.first).to_have_attribute("data-id", "paged-49", timeout=3000)
    expect(ui.locator(".range")).to_have_text("1\u201350")
    ui.get_by_role("button", name="Older sessions").click()
    expect(ui.locator(".range")).to_have_text("51\u201355")
    assert "offset=50" in ui.url
    expect(rows.last).to_have_attribute("data-id", "older-0")
    ui.get_by_role("button", name="Newer sessions").click()
    expect(ui.locator(".range")).to_have_text("1\u201350")
    with agentstore.open(server.url, token=TOKEN) as store:
        for n in range(50):
            store.delete_session(f"paged-{n:02d}")


@needs_browser
def test_a_session_shows_its_timeline_with_calls_joined_to_their_answers(
    ui: Page, server: Server
) -> None:
    _open(ui, server, "/sessions/flight-search")
    rows = _rows(ui)
    expect(rows).to_have_count(17)
    expect(ui.locator("h1")).to_have_text("flight-search")
    figures = ui.locator(".figures > div").evaluate_all(
        "pairs => pairs.map(pair => "
        "pair.children[0].textContent + ': ' + pair.children[1].textContent)"
    )
    assert figures[:5] == [
        "Events: 17",
        "Tokens: 2,550 in / 360 out",
        "Cost: $0.0093",
        "Tool calls: 4",
        "Errors: 1",
    ]
    call, result = ui.locator("#event-3"), ui.locator("#event-4")
    expect(call.locator(".event-summary")).to_have_text('search_flights(route="BER-MUC", page=0)')
    expect(call.locator(".answer")).to_have_text("→ 4")
    expect(call.locator(".took")).to_have_text("640 ms")
    expect(result.locator(".cause")).to_have_text("↳3")
    expect(result.locator(".event-summary")).to_have_text(
        'search_flights in 640 ms → [{"id":"LH0","price":89.5}]'
    )
    expect(ui.locator("#event-6 .event-summary")).to_have_text(
        "gpt-4o · 850 in / 120 out · $0.0031 · 1.2 s · “Two flights on page 0”"
    )
    expect(ui.locator("#event-6 .cause")).to_have_text("↳5")
    expect(ui.locator("#event-16")).to_have_class(re.compile(r"\bfailed\b"))
    expect(ui.locator("#event-15 .answer")).to_have_text("✕ 16")
    expect(ui.locator("#event-2 .event-time")).to_have_text(re.compile(r"^\+00:00\.\d{3}$"))

    ui.locator("#event-4").click()
    expect(ui.locator(".inspector h2")).to_have_text("#4")
    expect(ui.locator(".state h3")).to_have_text("State after #4")
    _screenshot(ui, "timeline")
    ui.locator("#event-4 .cause").click()  # ↳3 goes to the call
    expect(ui.locator(".inspector h2")).to_have_text("#3")
    expect(ui.locator(".pair")).to_contain_text("Answered by")
    ui.locator(".chip", has_text="error").click()  # filter by type
    expect(rows).to_have_count(1)
    expect(ui.locator("#event-16")).to_be_visible()
    assert "types=error" in ui.url
    ui.locator(".chip", has_text="error").click()
    expect(rows).to_have_count(17)

    ui.get_by_role("link", name="Cost & tokens").click()
    expect(ui.locator(".chart-svg")).to_be_visible()
    expect(ui.locator(".chart-svg .tokens-line")).to_have_count(1)
    models = ui.locator("table", has=ui.locator("caption", has_text="Models"))
    assert models.locator("tbody tr").all_inner_texts() == ["gpt-4o\t3\t2,550\t360\t$0.0093"]
    tools = ui.locator("table", has=ui.locator("caption", has_text="Tools"))
    assert tools.locator("tbody tr").all_inner_texts() == [
        "book_flight\t1\t1\t-",
        "search_flights\t3\t0\t641 ms",
    ]
    assert "view=cost" in ui.url


@needs_browser
def test_the_page_words_each_event_as_the_command_line_does(ui: Page, server: Server) -> None:
    events = [
        new_event("user_message", {"content": "Berlin\nto  Munich"}),
        new_event("user_message", {"other": 1}),
        new_event("plan_created", {"steps": ["search", {"then": "book"}]}),
        new_event("plan_created", {"plan": "search, then book"}),
        new_event(
            "tool_called",
            {"tool": "search", "arguments": {"q": "BER → MUC", "n": [1, 2]}},
            metadata=Metadata(tool_name="search"),
        ),
        new_event("tool_called", {"tool": "search", "arguments": "free text"}),
        new_event("tool_called", {"name": "calc", "a": 1}),
        new_event(
            "tool_result",
            {"tool": "search", "result": {"ok": True}},
            metadata=Metadata(tool_name="search", duration_ms=1530),
        ),
        new_event("tool_result", {"output": [1, "two", None]}),
        new_event(
            "llm_request",
            {"request": {"messages": [{"role": "user", "content": "Hi"}]}},
            metadata=Metadata(model="gpt-4o"),
        ),
        new_event(
            "llm_response",
            {"content": "answer"},
            metadata=Metadata(
                model="gpt-4o", tokens_in=1234, tokens_out=56, cost_usd=0.00012, duration_ms=65000
            ),
        ),
        new_event(
            "llm_response",
            {"tool_calls": [{"function": {"name": "f"}}, {"name": "g"}]},
            metadata=Metadata(model="x", tokens_in=10),
        ),
        new_event(
            "llm_response", {"response": {"odd": 1}}, metadata=Metadata(cost_source="unknown")
        ),
        new_event("error", {"error": "boom", "error_type": "ValueError", "tool": "t"}),
        new_event("error", {"reason": "gone"}),
        new_event("state_updated", {"k": "v\u202e\x1b[2J"}),
        new_event(
            "conversation.items",
            {
                "items": [
                    {"type": "function_call", "name": "f", "arguments": "{}"},
                    {"role": "user", "content": "hi"},
                ]
            },
        ),
        new_event("agent.handoff", {"from_agent": "triage", "to_agent": "booking"}),
        new_event(
            "agent.start", {"agent": "A", "tools": ["x"]}, metadata=Metadata(duration_ms=2_500_000)
        ),
        new_event("custom.thing", {}),
        new_event("custom.thing", [1, 2]),
    ]
    _open(ui, server, "/")
    expect(ui.locator(".sessions-table")).to_be_visible()
    worded = ui.evaluate(
        "async (records) => { const words = await import('/assets/summaries.js');"
        " return records.map((record) => words.summarize(record)); }",
        [event.to_dict() for event in events],
    )
    assert worded == [summarize(event, width=400) for event in events]


@needs_browser
def test_a_payload_folds_and_copies(ui: Page, server: Server) -> None:
    ui.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open(ui, server, "/sessions/flight-search?seq=4")
    panel = ui.locator(".json-panel", has=ui.locator("h3", has_text="Payload"))
    expect(panel.locator(".j-string", has_text='"LH0"')).to_be_visible()
    panel.locator("summary").first.click()  # folded
    expect(panel.locator(".j-string", has_text='"LH0"')).to_be_hidden()
    panel.get_by_role("button", name="Copy JSON").click()
    expect(panel.get_by_role("button", name="Copied")).to_be_visible()
    copied = ui.evaluate("navigator.clipboard.readText()")
    assert '"price": 89.5' in copied


@needs_browser
def test_ten_thousand_events_scroll_with_only_the_visible_rows_built(
    ui: Page, server: Server
) -> None:
    _open(ui, server, "/sessions/big")
    expect(ui.locator(".figures")).to_contain_text("10,000")
    expect(ui.locator(".position")).to_have_text("10,000 events")
    built = _rows(ui).count()
    assert 10 < built < 80  # the rows in view and a few around them
    ui.locator(".events").evaluate("list => { list.scrollTop = list.scrollHeight; }")
    expect(ui.locator("#event-10000")).to_be_visible()
    assert _rows(ui).count() < 80
    ui.locator("#event-9999").click()
    expect(ui).to_have_url(re.compile(r"\?seq=9999$"))
    ui.keyboard.press("k")
    expect(ui.locator(".inspector h2")).to_have_text("#9,998")


@needs_browser
def test_stepping_to_seq_12_shows_the_state_after_it_and_its_changes(
    ui: Page, server: Server
) -> None:
    _open(ui, server, "/sessions/flight-search")
    expect(_rows(ui)).to_have_count(17)
    for _ in range(12):
        ui.keyboard.press("j")
    expect(ui.locator(".inspector h2")).to_have_text("#12")
    expect(ui).to_have_url(re.compile(r"/sessions/flight-search\?seq=12$"))
    expect(ui.locator("#event-12")).to_have_attribute("aria-selected", "true")
    expect(ui.locator(".position")).to_have_text("#12 of 17")
    state = ui.locator(".state")
    expect(state.locator("h3")).to_have_text("State after #12")
    expect(state).to_contain_text("version 12 · 3 tool calls · 0 errors")
    changes = state.locator(".change")
    expect(changes).to_have_count(2)
    assert changes.all_inner_texts() == [
        '~\ndata.tool_result.result[0].id\n"LH1"\n→\n"LH2"',
        "~\ndata.tool_result.result[0].price\n90.5\n→\n91.5",
    ]
    state.get_by_role("button", name="Full state").click()
    full = state.locator(".json-tree")
    with agentstore.open(server.url, token=TOKEN) as store:
        expected = store.get_state("flight-search", at_seq=12)
    assert expected.data["tool_result"]["result"][0]["id"] == "LH2"
    expect(full.locator(".j-key", has_text='"tool_result"')).to_be_visible()
    expect(full.locator(".j-string", has_text='"LH2"')).to_be_visible()
    expect(full.locator(".j-string", has_text='"LH1"')).to_have_count(0)

    ui.keyboard.press("k")  # back a step
    expect(ui.locator(".inspector h2")).to_have_text("#11")
    ui.locator(".slider").fill("5")  # the slider travels too
    expect(ui.locator(".inspector h2")).to_have_text("#5")
    expect(ui).to_have_url(re.compile(r"\?seq=5$"))
    ui.keyboard.press("Escape")
    expect(ui.locator(".inspector h2")).to_have_text("No event selected")

    ui.goto(f"{server.url}/sessions/flight-search?seq=12")  # the address reopens the view
    expect(ui.locator(".inspector h2")).to_have_text("#12")
    expect(ui.locator(".state .change")).to_have_count(2)
    ui.go_back()
    expect(ui).to_have_url(re.compile(r"/sessions/flight-search$"))


@needs_browser
def test_forking_at_seq_12_lands_on_the_fork_which_links_to_its_parent(
    ui: Page, server: Server
) -> None:
    _open(ui, server, "/sessions/flight-search?seq=12")
    expect(ui.locator(".inspector h2")).to_have_text("#12")
    ui.get_by_role("button", name="Fork at #12").click()
    dialog = ui.get_by_role("dialog")
    expect(dialog.get_by_label("Name")).to_have_value("flight-search (fork at #12)")
    dialog.get_by_label("Name").fill("retry with another booking API")
    dialog.get_by_label("Labels").fill("attempt=2, by=ui")
    dialog.get_by_role("button", name="Fork at #12").click()
    expect(ui).to_have_url(re.compile(r"/sessions/(?!flight-search)[^/?]+$"))
    fork_id = ui.url.rsplit("/", 1)[1]
    expect(ui.locator("h1")).to_have_text("retry with another booking API")
    expect(ui.locator(".fork-origin")).to_have_text("Fork of flight-search at #12")
    expect(_rows(ui)).to_have_count(12)
    with agentstore.open(server.url, token=TOKEN) as store:
        fork = store.get_session(fork_id)
        store.append(fork_id, new_event("tool_result", {"tool": "book_flight", "result": "ok"}))
    assert fork.parent_id == "flight-search"
    assert fork.forked_at_seq == 12
    assert fork.labels == {"agent": "travel", "attempt": "2", "by": "ui"}
    expect(_rows(ui)).to_have_count(13)  # live on the fork's page too
    expect(ui.locator(".figures > div").first).to_have_text("Events13")
    expect(ui.locator(".fork-button")).to_have_text("Fork at #13")
    _screenshot(ui, "fork")

    ui.get_by_role("link", name="Compare with parent").click()
    compare = ui.locator(".compare")
    expect(compare.locator(".compare-row")).to_have_count(6)  # the fork point, then 13-17
    expect(compare.locator(".compare-row.fork-point")).to_contain_text("search_flights in 642 ms")
    expect(compare.locator(".compare-row").nth(1)).to_have_class(re.compile(r"\bdiffers\b"))
    expect(compare.locator(".compare-side").last).to_contain_text("1 event after")
    _screenshot(ui, "compare")
    ui.locator(".fork-origin a").click()
    expect(ui).to_have_url(re.compile(r"/sessions/flight-search\?seq=12$"))
    expect(ui.locator(".inspector h2")).to_have_text("#12")


@needs_browser
def test_events_appended_by_another_process_appear_live_where_the_user_is(
    ui: Page, server: Server
) -> None:
    with agentstore.open(server.url, token=TOKEN) as store:
        store.create_session(id="live-run", name="a running agent")
        store.append_batch(
            "live-run", [new_event("user_message", {"content": f"m{n}"}) for n in range(60)]
        )
    _open(ui, server, "/sessions/live-run?seq=3")
    expect(ui.locator(".inspector h2")).to_have_text("#3")
    expect(ui.locator(".live")).to_have_text("Live")
    top = ui.locator(".events").evaluate("list => list.scrollTop")
    code = (
        "import sys, agentstore\n"
        "with agentstore.open(sys.argv[1], token=sys.argv[2]) as store:\n"
        "    store.append('live-run', agentstore.new_event('user_message', "
        "{'content': 'appended from another process'}))\n"
    )
    subprocess.run([sys.executable, "-c", code, server.url, TOKEN], check=True, timeout=60)
    appended = time.monotonic()
    expect(ui.locator(".new-pill")).to_have_text("↓ 1 new", timeout=1000)  # within a second
    shown_after = time.monotonic() - appended
    assert shown_after < 1.0
    expect(ui.locator(".figures")).to_contain_text("61")
    # The user's place is kept: the same event selected, the list where it was.
    expect(ui.locator(".inspector h2")).to_have_text("#3")
    assert ui.locator(".events").evaluate("list => list.scrollTop") == top
    assert ui.url.endswith("?seq=3")
    ui.locator(".new-pill").click()
    expect(ui.locator("#event-61 .event-summary")).to_have_text("“appended from another process”")


@needs_browser
def test_stored_html_is_shown_as_text_and_never_run(ui: Page, server: Server) -> None:
    with agentstore.open(server.url, token=TOKEN) as store:
        store.create_session(id="xss", name=XSS_NAME, labels={"note": "<b>bold</b>"})
        store.append("xss", new_event("user_message", {"content": XSS_TEXT}))
        store.append(
            "xss", new_event("tool_result", {"tool": "<script>x</script>", "result": XSS_TEXT})
        )
    _open(ui, server, "/")
    row = ui.locator('tr[data-id="xss"]')
    expect(row.locator(".session-link")).to_have_text(XSS_NAME)
    expect(row.locator(".label-chip")).to_have_text("note=<b>bold</b>")
    row.locator(".session-link").click()
    expect(ui.locator("h1")).to_have_text(XSS_NAME)
    expect(ui.locator("#event-1 .event-summary")).to_have_text(f"“{XSS_TEXT}”")
    ui.locator("#event-2").click()
    expect(
        ui.locator(".json-panel .j-string", has_text="<script>window.__xss = 2</script>")
    ).to_be_visible()
    ui.wait_for_timeout(300)
    assert ui.evaluate("window.__xss") is None
    assert ui.locator("img[src='x'], script:not([src]), b").count() == 0
    assert XSS_NAME in ui.title()


@needs_browser
def test_a_read_only_token_reads_everything_and_has_no_fork_button(
    ui: Page, server: Server
) -> None:
    _open(ui, server, "/sessions/flight-search?seq=12", token=READ_TOKEN)
    expect(ui.locator(".inspector h2")).to_have_text("#12")
    expect(ui.locator(".state .change")).to_have_count(2)
    expect(ui.locator(".access")).to_have_text("Read-only token")
    expect(ui.locator(".fork-button")).to_have_count(0)
    expect(ui.get_by_role("button", name=re.compile("Fork"))).to_have_count(0)


@needs_browser
def test_a_wrong_token_is_asked_again_without_an_error(ui: Page, server: Server) -> None:
    _open(ui, server, "/", token="not-the-token")  # noqa: S106 - a wrong one
    expect(ui.locator(".token-form h1")).to_have_text("This store needs a token")
    expect(ui.locator(".token-form")).to_contain_text("not accepted")
    ui.get_by_label("Token").fill(TOKEN)
    ui.get_by_role("button", name="Open").click()
    expect(ui.locator('tr[data-id="flight-search"]')).to_be_visible()


@needs_browser
def test_the_dark_theme_and_a_phone_screen(ui: Page, server: Server) -> None:
    _open(ui, server, "/sessions/flight-search?seq=6")
    expect(ui.locator(".inspector h2")).to_have_text("#6")
    ui.get_by_role("button", name="Switch to the dark theme").click()
    assert ui.evaluate("document.documentElement.dataset.theme") == "dark"
    ui.reload()
    assert ui.evaluate("document.documentElement.dataset.theme") == "dark"  # remembered
    expect(ui.get_by_role("button", name="Switch to the light theme")).to_be_visible()
    ui.set_viewport_size({"width": 390, "height": 844})
    expect(ui.locator(".inspector h2")).to_have_text("#6")
    assert ui.evaluate("document.documentElement.scrollWidth") <= 390
    expect(ui.locator("#event-6")).to_be_visible()


@needs_browser
def test_the_page_loads_fast_from_a_few_small_files(browser: Browser, server: Server) -> None:
    page = browser.new_page()
    watched = Watched(page, server.url)
    responses: list[Response] = []
    page.on("response", lambda answer: responses.append(answer))
    page.goto(f"{server.url}/sessions/big#token={TOKEN}")
    expect(page.locator("#event-1")).to_be_visible()
    weight = sum(len(answer.body()) for answer in responses if "/assets/" in answer.url)
    assert 0 < weight < 300_000
    first_rows = page.evaluate("performance.getEntriesByName('agentstore:first-rows')[0].startTime")
    assert first_rows < 5000  # generous: docs/benchmarks.md has the figures (bench_ui.py)
    page.close()
    assert watched.problems == []


# Without a browser: the page's headers and routes, and the `agentstore ui` command.


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path / "data", token=TOKEN, read_token=READ_TOKEN)
    with TestClient(app, base_url="http://127.0.0.1:8750") as test_client:
        yield test_client


def test_the_page_is_served_without_a_token_with_a_strict_policy(client: TestClient) -> None:
    for path in ("/", "/sessions/any-id", "/sessions/any-id?seq=12"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-cache"
        assert '<script type="module" src="/assets/app.js">' in page.text
        assert "<script>" not in page.text  # nothing inline
        assert "style=" not in page.text
    assert client.get("/v1/sessions").status_code == 401  # the API stays guarded
    assert client.get("/v1/sessions/any-id").status_code == 401
    assert client.post("/", json={}).status_code == 401
    assert client.get("/sessions/a/b").status_code == 401  # only the page's own paths


def test_the_assets_are_served_with_their_types_and_revalidated(client: TestClient) -> None:
    names = asset_names()
    assert {"index.html", "app.js", "app.css", "theme.js", "icon.svg"} <= set(names)
    total = 0
    for name in names:
        if name == "index.html":
            assert client.get("/assets/index.html").status_code == 404
            continue
        asset = client.get(f"/assets/{name}")
        assert asset.status_code == 200, name
        total += len(asset.content)
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
        assert asset.headers["content-type"].startswith(kind[name.rpartition(".")[2]])
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        again = client.get(f"/assets/{name}", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
    assert total < 300_000  # the page's weight
    assert client.get("/assets/nothing.js").status_code == 404
    assert client.get("/assets/..%2Fpages.py").status_code == 401  # not a page's path
    escaping = client.get("/assets/..%2Fpages.py", headers={"Authorization": f"Bearer {TOKEN}"})
    assert escaping.status_code == 404


def test_every_module_the_page_imports_is_preloaded_and_shipped() -> None:
    folder = ROOT / "src" / "agentstore" / "server" / "ui"
    index = (folder / "index.html").read_text(encoding="utf-8")
    modules = {path.name for path in folder.glob("*.js")} - {"theme.js"}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/assets/([\w.]+)">', index))
    assert preloaded == modules - {"app.js"}
    for module in modules:
        source = (folder / module).read_text(encoding="utf-8")
        assert "innerHTML" not in source, module
        assert "insertAdjacentHTML" not in source, module
        assert "console." not in source, module
        for imported in re.findall(r'from "\./([\w.]+)"', source):
            assert imported in modules, (module, imported)


def test_a_mounted_server_names_its_prefix_in_the_page(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/store", app=create_app(tmp_path / "data", token=TOKEN))])
    with TestClient(outer, base_url="http://127.0.0.1:8750") as mounted:
        page = mounted.get("/store/sessions/x")
        assert page.status_code == 200
        assert '<meta name="agentstore-root" content="/store">' in page.text
        assert 'href="/store/assets/app.css"' in page.text
        assert mounted.get("/store/assets/app.js").status_code == 200
        assert mounted.get("/store/v1/sessions").status_code == 401


def test_agentstore_ui_serves_the_page_and_opens_the_browser_with_the_token(
    tmp_path: Path,
) -> None:
    opened = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.py"
    recorder.write_text(
        f"import pathlib, sys\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n",
        encoding="utf-8",
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "agentstore", "ui", "--store", str(tmp_path / "data")]
    command += ["--port", str(port), "--token-file", str(token_file)]
    environment = {**os.environ, "BROWSER": f"{sys.executable} {recorder} %s"}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert opened.exists(), "the browser was not opened"
        assert opened.read_text() == f"http://127.0.0.1:{port}/#token={TOKEN}"
        page = httpx2.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert "agentstore" in page.text
        refused = httpx2.get(f"http://127.0.0.1:{port}/v1/sessions", timeout=5)
        assert refused.status_code == 401
    finally:
        process.terminate()
        _, said = process.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in said
    assert TOKEN not in said  # the token is not printed


def test_agentstore_ui_with_no_browser_opens_none(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "agentstore", "--store", str(tmp_path / "data"), "ui"]
    command += ["--port", str(port), "--no-browser"]
    environment = {**os.environ, "BROWSER": f"{sys.executable} -c 'raise SystemExit(3)' %s"}
    process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("agentstore ui did not serve the page")
    finally:
        process.terminate()
        _, said = process.communicate(timeout=15)
    assert "opening" not in said
    assert f"the timeline is at http://127.0.0.1:{port}/" in said
