// One session: its header (name, labels, fork origin, figures), and its views: the
// timeline with the selected event's state, the cost and tokens, and (for a fork) the
// comparison with its parent. Events load a page at a time (the first rows show before
// the rest arrive) and then follow the session live.

import { api, ApiError, pagePath } from "./api.js";
import { CostChart } from "./chart.js";
import { Compare } from "./compare.js";
import { copyButton, h, replace, throttle } from "./dom.js";
import { clock, count, duration, printable } from "./format.js";
import { costText, statsTables } from "./figures.js";
import { openForkDialog } from "./fork.js";
import { Inspector } from "./inspector.js";
import { follow } from "./live.js";
import { SessionLog } from "./log.js";
import { Timeline } from "./timeline.js";

const FIRST_PAGE = 200; // what the first paint needs
const PAGE = 10000; // the most the API gives at once
const VIEWS = ["timeline", "cost", "compare"];

/** The first paint's marks, read by the benchmark (performance timings). */
function mark(name) {
  if (!performance.getEntriesByName(name).length) performance.mark(name);
}

export class SessionView {
  constructor(context, sessionId, params) {
    this.context = context;
    this.id = sessionId;
    this.log = new SessionLog();
    this.controller = new AbortController();
    this.session = null;
    this.view = VIEWS.includes(params.get("view")) ? params.get("view") : "timeline";
    this.selected = null;
    this.wanted = Number.parseInt(params.get("seq") || "", 10) || null; // a seq not loaded yet
    this.filters = {
      types: (params.get("types") || "").split(",").filter(Boolean),
      text: params.get("q") || "",
    };
    this.loaded = false;
    this.queue = [];
    this.element = h(
      "section",
      { class: "session-view" },
      h("p", { class: "loading" }, "Loading the session…"),
    );
    document.title = `${sessionId} · agentstore`;
    context.setCrumbs([h("span", {}, printable(sessionId))]);
    this.#start();
  }

  async #start() {
    const signal = this.controller.signal;
    let session;
    let first;
    try {
      [session, first] = await Promise.all([
        api.session(this.id, signal),
        api.events(this.id, { fromSeq: 1, limit: FIRST_PAGE }, signal),
      ]);
    } catch (error) {
      if (signal.aborted) return;
      this.#failed(error);
      return;
    }
    this.session = session;
    this.log.add(first.events);
    this.#build();
    requestAnimationFrame(() => mark("agentstore:first-rows"));
    let cursor = first.cursor;
    let done = first.events.length < FIRST_PAGE;
    try {
      while (!done && !signal.aborted) {
        const page = await api.events(
          this.id,
          { fromSeq: this.log.length + 1, limit: PAGE, cursor },
          signal,
        );
        cursor = page.cursor;
        done = page.events.length < PAGE;
        this.#added(this.log.add(page.events), false);
      }
    } catch (error) {
      if (signal.aborted) return;
      this.context.showError(`Events could not be read: ${error.message}`);
    }
    if (signal.aborted) return;
    this.loaded = true;
    mark("agentstore:all-rows");
    this.#refreshHeader();
    this.stopWatch = follow(() => api.sessionWatchPath(this.id, this.log.length + 1), {
      onEvent: (event) => this.#arrived(event),
      onStatus: (status) => this.context.setLive(status),
    });
  }

  #failed(error) {
    const missing = error instanceof ApiError && error.status === 404;
    replace(
      this.element,
      h(
        "div",
        { class: "empty-state" },
        h("h1", {}, missing ? "No such session" : "The session could not be read"),
        h(
          "p",
          { class: "muted" },
          missing ? `This store holds no session “${printable(this.id)}”.` : error.message,
        ),
        h("a", { href: pagePath("/"), "data-nav": "" }, "← All sessions"),
      ),
    );
  }

  #build() {
    const session = this.session;
    document.title = `${printable(session.name || session.id)} · agentstore`;
    this.context.setCrumbs([h("span", {}, printable(session.name || session.id))]);
    this.figures = h("dl", { class: "figures" });
    this.forkButton = this.context.canWrite()
      ? h("button", { type: "button", class: "button primary fork-button" }, "Fork")
      : null;
    this.forkButton?.addEventListener("click", () => this.#fork());
    const origin = session.parent_id
      ? h(
          "p",
          { class: "fork-origin" },
          "Fork of ",
          h(
            "a",
            {
              href: pagePath(
                `/sessions/${encodeURIComponent(session.parent_id)}?seq=${session.forked_at_seq}`,
              ),
              "data-nav": "",
            },
            printable(session.parent_id),
          ),
          ` at #${count(session.forked_at_seq)}`,
        )
      : null;
    const labels = Object.keys(session.labels || {})
      .sort()
      .map((key) =>
        h("span", { class: "label-chip static" }, printable(`${key}=${session.labels[key]}`)),
      );
    const head = h(
      "header",
      { class: "session-head" },
      h(
        "div",
        { class: "session-title" },
        h("h1", {}, printable(session.name || session.id)),
        h("div", { class: "session-actions" }, this.forkButton),
      ),
      h(
        "div",
        { class: "session-meta" },
        h("code", { class: "session-id" }, session.id),
        copyButton(() => session.id, "Copy id"),
        h("span", { class: "muted" }, `created ${clock(Date.parse(session.created_at))}`),
        labels.length ? h("span", { class: "labels" }, labels) : null,
        origin,
      ),
      this.figures,
    );
    this.tabs = h("nav", { class: "tabs", "aria-label": "Session views" });
    this.panel = h("div", { class: "tab-panel" });
    replace(this.element, head, this.tabs, this.panel);

    this.timeline = new Timeline(this.log, {
      onSelect: (seq, how) => this.select(seq, how),
      filters: this.filters,
      onFilter: (filters) => {
        this.filters = filters;
        this.#syncUrl();
      },
    });
    this.inspector = new Inspector(this.id, this.log, {
      onSelect: (seq, how) => this.select(seq, how),
    });
    this.timelineView = h(
      "div",
      { class: "timeline-layout" },
      this.timeline.element,
      this.inspector.element,
    );
    this.#refreshHeader();
    this.#showView(this.view, { push: false });
    if (this.wanted && this.wanted <= this.log.length) this.select(this.wanted, { from: "url" });
  }

  #drawTabs() {
    const views = [
      ["timeline", "Timeline"],
      ["cost", "Cost & tokens"],
      ...(this.session.parent_id ? [["compare", "Compare with parent"]] : []),
    ];
    replace(
      this.tabs,
      views.map(([view, label]) => {
        const link = h(
          "a",
          {
            href: this.#url({ view }),
            class: "tab",
            "aria-current": view === this.view ? "page" : null,
          },
          label,
        );
        link.addEventListener("click", (event) => {
          if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          this.#showView(view, { push: true });
        });
        return link;
      }),
    );
  }

  #showView(view, { push }) {
    if (view === "compare" && !this.session.parent_id) view = "timeline";
    this.view = view;
    this.#drawTabs();
    this.compare?.destroy();
    this.compare = null;
    this.chart = null;
    if (view === "timeline") {
      replace(this.panel, this.timelineView);
      if (this.selected) this.timeline.select(this.selected, { scroll: "center" });
    } else if (view === "cost") {
      this.chart = new CostChart(this.log, {
        onPick: (seq) => this.select(seq, { from: "chart" }),
      });
      this.statsFrame = h(
        "div",
        { class: "stats-frame" },
        h("p", { class: "muted" }, "Loading the figures…"),
      );
      replace(
        this.panel,
        h(
          "div",
          { class: "cost-view" },
          h("h2", { class: "visually-hidden" }, "Cost and tokens"),
          this.chart.element,
          this.statsFrame,
        ),
      );
      this.#loadStats();
    } else {
      this.compare = new Compare(this.session, this.log);
      replace(this.panel, this.compare.element);
    }
    if (push) this.#syncUrl({ push: true });
  }

  async #loadStats() {
    const frame = this.statsFrame;
    try {
      const stats = await api.stats(this.id, this.controller.signal);
      if (frame === this.statsFrame) replace(frame, statsTables(stats));
    } catch (error) {
      if (!this.controller.signal.aborted && frame === this.statsFrame)
        replace(
          frame,
          h("p", { class: "error-text" }, `The figures could not be read: ${error.message}`),
        );
    }
  }

  /** Select event `seq`: the row, the inspector, the slider and the address follow. */
  select(seq, { from = "click" } = {}) {
    if (!seq || seq < 1 || seq > this.log.length) return;
    this.selected = seq;
    this.wanted = null;
    if (this.view !== "timeline") this.#showView("timeline", { push: true });
    this.timeline.select(seq, {
      scroll: from === "click" ? false : from === "key" ? "nearest" : "center",
    });
    this.inspector.show(seq);
    this.#refreshForkButton();
    this.#syncUrl();
  }

  #clearSelection() {
    this.selected = null;
    this.timeline.select(null, { scroll: false });
    this.inspector.show(null);
    this.#refreshForkButton();
    this.#syncUrl();
  }

  #url({ view = this.view } = {}) {
    const params = new URLSearchParams();
    if (view !== "timeline") params.set("view", view);
    if (this.selected) params.set("seq", String(this.selected));
    if (this.filters.types.length) params.set("types", this.filters.types.join(","));
    if (this.filters.text) params.set("q", this.filters.text);
    const query = params.toString();
    return pagePath(`/sessions/${encodeURIComponent(this.id)}`) + (query ? `?${query}` : "");
  }

  #syncUrl({ push = false } = {}) {
    this.context.navigate(this.#url(), { replace: !push, quiet: true });
  }

  #refreshForkButton() {
    if (!this.forkButton) return;
    const seq = this.selected || this.log.length;
    this.forkButton.textContent = seq ? `Fork at #${count(seq)}` : "Fork";
    this.forkButton.disabled = !seq;
  }

  #fork() {
    const seq = this.selected || this.log.length;
    if (!seq) return;
    openForkDialog(this.session, seq, {
      onForked: (fork) =>
        this.context.navigate(pagePath(`/sessions/${encodeURIComponent(fork.id)}`)),
    });
  }

  #refreshHeader() {
    const totals = this.log.totals;
    const figure = (name, value, className = null) =>
      h("div", {}, h("dt", {}, name), h("dd", { class: className }, value));
    replace(
      this.figures,
      figure(
        "Events",
        count(this.log.length) + (this.loaded ? "" : ` of ${count(this.session.event_count)}`),
      ),
      figure("Tokens", `${count(totals.tokensIn)} in / ${count(totals.tokensOut)} out`),
      figure("Cost", costText({ cost_usd: totals.cost, unpriced: totals.unpriced })),
      figure("Tool calls", count(totals.toolCalls)),
      figure("Errors", count(totals.errors), totals.errors ? "has-errors" : null),
      figure("Duration", duration(this.log.durationMs)),
    );
    this.#refreshForkButton();
  }

  /** Events added while loading (live = false) or as they arrive (live = true). */
  #added(added, live) {
    if (!added) return;
    this.timeline.grew(added, { live });
    this.#refreshHeader(); // at most once a frame: live events come a frame at a time
    if (this.wanted && this.wanted <= this.log.length) this.select(this.wanted, { from: "url" });
    if (live && this.chart) this.#redrawChartSoon();
    if (live && this.statsFrame && this.view === "cost") this.#reloadStatsSoon();
    if (live && this.compare) this.#redrawCompareSoon();
  }

  #redrawChartSoon = throttle(() => this.chart?.draw(), 250);
  #reloadStatsSoon = throttle(() => this.#loadStats(), 1000);
  #redrawCompareSoon = throttle(() => this.compare?.draw(), 250);

  #arrived(event) {
    this.queue.push(event);
    if (this.queue.length === 1) {
      requestAnimationFrame(() => {
        const events = this.queue;
        this.queue = [];
        this.#added(this.log.add(events), true);
      });
    }
  }

  /** The address changed within this session (back, forward): show what it names. */
  update(params) {
    if (!this.session) return;
    const view = VIEWS.includes(params.get("view")) ? params.get("view") : "timeline";
    if (view !== this.view) this.#showView(view, { push: false });
    const seq = Number.parseInt(params.get("seq") || "", 10) || null;
    if (seq && seq !== this.selected) this.select(seq, { from: "url" });
    else if (!seq && this.selected) this.#clearSelection();
  }

  keys() {
    const step = (by) => () => {
      if (!this.timeline) return;
      if (this.view !== "timeline") this.#showView("timeline", { push: true });
      const seq = this.timeline.neighbour(by);
      if (seq) this.select(seq, { from: "key" });
    };
    return {
      next: step(1),
      previous: step(-1),
      search: () => {
        if (!this.timeline) return;
        if (this.view !== "timeline") this.#showView("timeline", { push: true });
        this.timeline.focusSearch();
      },
      escape: () => {
        if (this.selected) this.#clearSelection();
      },
    };
  }

  destroy() {
    this.controller.abort();
    this.stopWatch?.();
    this.timeline?.destroy();
    this.inspector?.destroy();
    this.compare?.destroy();
    this.#redrawChartSoon.cancel();
    this.#reloadStatsSoon.cancel();
    this.#redrawCompareSoon.cancel();
  }
}
