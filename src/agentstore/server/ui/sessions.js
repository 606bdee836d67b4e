// The list of sessions, newest first: name, labels, events, tokens, cost, errors and last
// activity; searched by name or id, filtered by label, a page at a time (any number of
// sessions), refreshed live as events arrive anywhere in the store.

import { api, pagePath } from "./api.js";
import { debounce, h, replace, throttle } from "./dom.js";
import { ago, clock, compact, cost, count, parseTime, plural, printable } from "./format.js";
import { follow } from "./live.js";

const PAGE = 50;
const POLL_MS = 5000; // sessions created without events yet are seen this way
const LIVE_REFRESH_MS = 400;

function labelPairs(text) {
  const pairs = text.split(/[,\s]+/).filter(Boolean);
  const bad = pairs.find((pair) => pair.indexOf("=") <= 0);
  return bad ? { error: `A label filter is key=value, not “${bad}”.` } : { pairs };
}

export class SessionsView {
  constructor(context, params) {
    this.context = context;
    this.q = params.get("q") || "";
    this.label = params.getAll("label").join(", ");
    this.offset = Math.max(Number.parseInt(params.get("offset") || "0", 10) || 0, 0);
    this.sessions = [];
    this.known = null;
    this.active = -1;
    this.controller = null;

    this.search = h("input", {
      type: "search",
      id: "session-search",
      class: "field",
      placeholder: "Search by name or id",
      autocomplete: "off",
      spellcheck: "false",
    });
    this.search.value = this.q;
    this.labelField = h("input", {
      type: "search",
      id: "label-filter",
      class: "field",
      placeholder: "Label: key=value",
      autocomplete: "off",
      spellcheck: "false",
    });
    this.labelField.value = this.label;
    this.problem = h("p", { class: "error-text", role: "alert", hidden: true });
    this.range = h("span", { class: "range muted", "aria-live": "polite" });
    this.newer = h(
      "button",
      { type: "button", class: "button", "aria-label": "Newer sessions" },
      "← Newer",
    );
    this.older = h(
      "button",
      { type: "button", class: "button", "aria-label": "Older sessions" },
      "Older →",
    );
    this.body = h("tbody");
    this.table = h(
      "table",
      { class: "data-table sessions-table" },
      h("caption", { class: "visually-hidden" }, "Sessions, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Session"),
          h("th", { scope: "col", class: "col-labels" }, "Labels"),
          h("th", { scope: "col", class: "num" }, "Events"),
          h("th", { scope: "col", class: "num col-tokens" }, "Tokens"),
          h("th", { scope: "col", class: "num" }, "Cost"),
          h("th", { scope: "col", class: "num col-errors" }, "Errors"),
          h("th", { scope: "col", class: "col-activity" }, "Last activity"),
        ),
      ),
      this.body,
    );
    this.empty = h("div", { class: "empty-state", hidden: true });
    this.element = h(
      "section",
      { class: "sessions-view", "aria-labelledby": "sessions-title" },
      h("div", { class: "view-head" }, h("h1", { id: "sessions-title" }, "Sessions")),
      h(
        "div",
        { class: "toolbar" },
        h(
          "label",
          { class: "visually-hidden", for: "session-search" },
          "Search sessions by name or id",
        ),
        this.search,
        h("label", { class: "visually-hidden", for: "label-filter" }, "Filter sessions by label"),
        this.labelField,
        h("div", { class: "pager" }, this.range, this.newer, this.older),
      ),
      this.problem,
      h("div", { class: "table-frame" }, this.table),
      this.empty,
    );

    const filtersChanged = debounce(() => {
      this.offset = 0;
      this.#syncUrl(true);
      this.load();
    }, 250);
    this.search.addEventListener("input", filtersChanged);
    this.labelField.addEventListener("input", filtersChanged);
    this.newer.addEventListener("click", () => this.#page(-1));
    this.older.addEventListener("click", () => this.#page(1));
    this.body.addEventListener("click", (event) => {
      const chip = event.target.closest("[data-label]");
      if (!chip) return;
      event.preventDefault();
      this.labelField.value = chip.dataset.label;
      this.offset = 0;
      this.#syncUrl(false);
      this.load();
    });
    this.refreshSoon = throttle(() => this.load({ live: true }), LIVE_REFRESH_MS);
    this.stopWatch = follow(() => api.allWatchPath(), {
      onEvent: (event) => this.#seen(event),
      onStatus: (status) => context.setLive(status),
    });
    this.poll = setInterval(() => {
      if (document.visibilityState === "visible") this.load({ live: true });
    }, POLL_MS);
    context.setCrumbs([]);
    document.title = "Sessions · agentstore";
    this.load();
  }

  #seen(event) {
    // A session on this page changed, or (on the first page) one may be new.
    if (this.offset === 0 || this.sessions.some((session) => session.id === event.session_id))
      this.refreshSoon();
  }

  #page(step) {
    this.offset = Math.max(this.offset + step * PAGE, 0);
    this.#syncUrl(false);
    this.load();
  }

  #syncUrl(replaceEntry) {
    const params = new URLSearchParams();
    if (this.search.value.trim()) params.set("q", this.search.value.trim());
    for (const pair of labelPairs(this.labelField.value).pairs || []) params.append("label", pair);
    if (this.offset) params.set("offset", String(this.offset));
    const query = params.toString();
    this.context.navigate(pagePath("/") + (query ? `?${query}` : ""), {
      replace: replaceEntry,
      quiet: true,
    });
  }

  async load({ live = false } = {}) {
    const labels = labelPairs(this.labelField.value);
    if (labels.error) {
      this.problem.textContent = labels.error;
      this.problem.hidden = false;
      return;
    }
    this.problem.hidden = true;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    let found;
    try {
      found = await api.sessions(
        { limit: PAGE + 1, offset: this.offset, q: this.search.value.trim(), labels: labels.pairs },
        controller.signal,
      );
    } catch (error) {
      if (!controller.signal.aborted)
        this.context.showError(`The sessions could not be read: ${error.message}`);
      return;
    }
    this.context.showError(null);
    const more = found.sessions.length > PAGE;
    const sessions = found.sessions.slice(0, PAGE);
    const fresh =
      live && this.known
        ? new Set(sessions.map((s) => s.id).filter((id) => !this.known.has(id)))
        : new Set();
    this.known = new Set(sessions.map((s) => s.id));
    this.sessions = sessions;
    this.#draw(fresh);
    if (!performance.getEntriesByName("agentstore:sessions").length) {
      requestAnimationFrame(() => performance.mark("agentstore:sessions")); // read by the benchmark
    }
    this.range.textContent = sessions.length
      ? `${count(this.offset + 1)}–${count(this.offset + sessions.length)}`
      : "";
    this.newer.disabled = this.offset === 0;
    this.older.disabled = !more;
  }

  #draw(fresh) {
    const focusedId = this.body.contains(document.activeElement)
      ? document.activeElement.closest("tr")?.dataset.id
      : null;
    replace(
      this.body,
      this.sessions.map((session) => this.#row(session, fresh.has(session.id))),
    );
    const filtered = this.search.value.trim() || this.labelField.value.trim();
    this.empty.hidden = this.sessions.length > 0;
    this.table.hidden = this.sessions.length === 0;
    if (!this.sessions.length) {
      replace(
        this.empty,
        filtered
          ? h("p", {}, "No session matches.")
          : [
              h("h2", {}, "No sessions yet"),
              h(
                "p",
                { class: "muted" },
                "Sessions appear here as agents record them: ",
                h("code", {}, 'agentstore.open("http://…")'),
                " from any process, or any writer of this store.",
              ),
            ],
      );
    }
    if (focusedId) this.body.querySelector(`tr[data-id="${CSS.escape(focusedId)}"] a`)?.focus();
    this.active = Math.min(this.active, this.sessions.length - 1);
    this.#markActive();
  }

  #row(session, fresh) {
    const summary = session.summary || {};
    const labels = session.labels || {};
    const lastAt = parseTime(summary.last_event_at || session.updated_at);
    const tokens = (summary.tokens_in || 0) + (summary.tokens_out || 0);
    const href = pagePath(`/sessions/${encodeURIComponent(session.id)}`);
    return h(
      "tr",
      { class: fresh ? "fresh" : null, dataset: { id: session.id } },
      h(
        "td",
        { class: "col-session" },
        h(
          "a",
          { href, "data-nav": "", class: "session-link" },
          printable(session.name || session.id),
        ),
        h(
          "span",
          { class: "session-id" },
          session.name ? session.id : null,
          session.parent_id
            ? `${session.name ? " · " : ""}fork of ${session.parent_id} at #${session.forked_at_seq}`
            : null,
        ),
        h(
          "span",
          { class: "narrow-only muted" },
          ago(lastAt),
          summary.errors
            ? h("span", { class: "has-errors" }, ` · ${plural(summary.errors, "error")}`)
            : null,
        ),
      ),
      h(
        "td",
        { class: "col-labels" },
        Object.keys(labels)
          .sort()
          .map((key) => {
            const pair = `${key}=${labels[key]}`;
            return h(
              "button",
              {
                type: "button",
                class: "label-chip",
                dataset: { label: pair },
                title: `Show sessions labelled ${printable(pair)}`,
              },
              printable(pair),
            );
          }),
      ),
      h("td", { class: "num" }, count(session.event_count)),
      h(
        "td",
        {
          class: `num col-tokens${tokens ? "" : " zero"}`,
          title: `${count(summary.tokens_in)} in / ${count(summary.tokens_out)} out`,
        },
        compact(tokens),
      ),
      h("td", { class: `num${summary.cost_usd ? "" : " zero"}` }, cost(summary.cost_usd)),
      h(
        "td",
        { class: `num col-errors${summary.errors ? " has-errors" : " zero"}` },
        count(summary.errors),
      ),
      h(
        "td",
        { class: "col-activity" },
        h(
          "time",
          { datetime: summary.last_event_at || session.updated_at, title: clock(lastAt) },
          ago(lastAt),
        ),
      ),
    );
  }

  #markActive(focus = false) {
    for (const row of this.body.querySelectorAll("tr.active")) row.classList.remove("active");
    const row = this.body.children[this.active];
    if (row) {
      row.classList.add("active");
      if (focus) row.querySelector("a").focus();
    }
  }

  keys() {
    return {
      next: () => {
        this.active = Math.min(this.active + 1, this.sessions.length - 1);
        this.#markActive(true);
      },
      previous: () => {
        this.active = Math.max(this.active - 1, 0);
        this.#markActive(true);
      },
      search: () => {
        this.search.focus();
        this.search.select();
      },
      escape: () => {
        this.active = -1;
        this.#markActive();
        document.activeElement?.blur();
      },
    };
  }

  destroy() {
    this.stopWatch();
    clearInterval(this.poll);
    this.refreshSoon.cancel();
    this.controller?.abort();
  }
}
