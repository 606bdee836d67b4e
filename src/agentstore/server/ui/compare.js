// A fork beside its parent from the fork point on: the events of each, seq by seq, the
// ones that differ marked, and each side's tokens, cost and errors since the fork.

import { api, pagePath } from "./api.js";
import { h, replace } from "./dom.js";
import { cost, count, elapsed, parseTime, plural, printable } from "./format.js";
import { summarize } from "./summaries.js";
import { typeClass } from "./timeline.js";

const PAGE = 10000; // the most the API gives at once
const SHOWN = 500;
const LLM_TYPES = new Set(["llm_request", "llm_response"]);

async function eventsFrom(sessionId, fromSeq, signal) {
  const events = [];
  let next = fromSeq;
  let cursor = null;
  for (;;) {
    const page = await api.events(sessionId, { fromSeq: next, limit: PAGE, cursor }, signal);
    events.push(...page.events);
    if (page.events.length < PAGE) return events;
    next = page.events[page.events.length - 1].sequence_number + 1;
    cursor = page.cursor;
  }
}

function totals(events) {
  const sums = { events: 0, tokens: 0, cost: 0, errors: 0 };
  for (const event of events) {
    sums.events += 1;
    const metadata = event.metadata || {};
    if (LLM_TYPES.has(event.type)) {
      sums.tokens += (metadata.tokens_in || 0) + (metadata.tokens_out || 0);
      sums.cost += metadata.cost_usd || 0;
    } else if (event.type === "error") sums.errors += 1;
  }
  return sums;
}

const sameEvent = (a, b) =>
  a && b && a.type === b.type && JSON.stringify(a.payload) === JSON.stringify(b.payload);

export class Compare {
  /** @param fork the fork's session record; @param forkLog its SessionLog */
  constructor(fork, forkLog) {
    this.fork = fork;
    this.forkLog = forkLog;
    this.parentEvents = null;
    this.limit = SHOWN;
    this.controller = new AbortController();
    this.element = h(
      "section",
      { class: "compare", "aria-label": "Fork and parent compared" },
      h("p", { class: "muted" }, "Loading the parent…"),
    );
    this.#load();
  }

  async #load() {
    const at = this.fork.forked_at_seq;
    try {
      const [parent, events] = await Promise.all([
        api.session(this.fork.parent_id, this.controller.signal),
        eventsFrom(this.fork.parent_id, Math.max(at, 1), this.controller.signal),
      ]);
      this.parent = parent;
      this.parentEvents = new Map(events.map((event) => [event.sequence_number, event]));
      this.draw();
    } catch (error) {
      if (this.controller.signal.aborted) return;
      replace(
        this.element,
        h("p", { class: "error-text" }, `The parent could not be read: ${error.message}`),
      );
    }
  }

  /** Draw again (the fork grew). */
  draw() {
    if (!this.parentEvents) return;
    const at = this.fork.forked_at_seq;
    const forkEvents = this.forkLog.events.slice(Math.max(at, 1) - 1);
    const parentAfter = [...this.parentEvents.values()].filter(
      (event) => event.sequence_number > at,
    );
    const forkAfter = forkEvents.filter((event) => event.sequence_number > at);
    const last = Math.max(at, ...[...this.parentEvents.keys()], this.forkLog.length);
    const origin = {
      parent: parseTime(this.parentEvents.get(at)?.timestamp),
      fork: parseTime(this.forkLog.at(at)?.timestamp),
    };
    let differing = 0;
    const rows = [];
    for (let seq = Math.max(at, 1); seq <= last; seq += 1) {
      const left = this.parentEvents.get(seq);
      const right = this.forkLog.at(seq);
      const same = sameEvent(left, right);
      if (!same && seq > at) differing += 1;
      if (rows.length < this.limit) {
        rows.push(
          h(
            "div",
            {
              class: `compare-row${seq === at ? " fork-point" : ""}${same ? "" : " differs"}`,
              role: "row",
            },
            this.#cell(this.fork.parent_id, left, seq, origin.parent),
            this.#cell(this.fork.id, right, seq, origin.fork),
          ),
        );
      }
    }
    const shownAll = rows.length >= last - Math.max(at, 1) + 1;
    const more = shownAll
      ? null
      : h("button", { type: "button", class: "button" }, `Show ${count(SHOWN)} more`);
    more?.addEventListener("click", () => {
      this.limit += SHOWN;
      this.draw();
    });
    replace(
      this.element,
      h(
        "div",
        { class: "compare-head", role: "row" },
        this.#side("Parent", this.parent, parentAfter),
        this.#side("This fork", this.fork, forkAfter),
      ),
      h(
        "p",
        { class: "muted compare-note" },
        `From the fork point, #${count(at)}: ${differing ? `${count(differing)} seqs differ` : "no difference yet"}. Times are since the fork point.`,
      ),
      h(
        "div",
        { class: "compare-rows", role: "table", "aria-label": "Events after the fork point" },
        rows,
      ),
      more,
    );
  }

  #side(title, session, after) {
    const sums = totals(after);
    return h(
      "div",
      { class: "compare-side", role: "columnheader" },
      h("span", { class: "muted" }, title),
      h(
        "a",
        { href: pagePath(`/sessions/${encodeURIComponent(session.id)}`), "data-nav": "" },
        printable(session.name || session.id),
      ),
      h(
        "span",
        { class: "muted" },
        `${plural(sums.events, "event")} after · ${plural(sums.tokens, "token")} · ${cost(sums.cost)} · ${plural(sums.errors, "error")}`,
      ),
    );
  }

  #cell(sessionId, event, seq, origin) {
    if (!event)
      return h(
        "div",
        { class: "compare-cell missing", role: "cell" },
        h("span", { class: "event-seq" }, String(seq)),
        h("span", { class: "muted" }, "—"),
      );
    const time = parseTime(event.timestamp) - origin;
    return h(
      "a",
      {
        class: "compare-cell",
        role: "cell",
        href: pagePath(`/sessions/${encodeURIComponent(sessionId)}?seq=${seq}`),
        "data-nav": "",
      },
      h("span", { class: "event-seq" }, String(seq)),
      h("span", { class: "event-time" }, Number.isFinite(time) ? elapsed(time) : ""),
      h("span", { class: typeClass(event.type) }, event.type),
      h("span", { class: "event-summary" }, summarize(event)),
    );
  }

  destroy() {
    this.controller.abort();
  }
}
