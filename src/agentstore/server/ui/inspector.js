// The selected event: what it is, what it answers and what answered it, its payload and
// metadata, and the session's state after it with what changed from the step before.

import { api } from "./api.js";
import { derived, diff, pathText } from "./diff.js";
import { copyButton, debounce, h, replace } from "./dom.js";
import { clock, count, elapsed, plural, printable, shorten } from "./format.js";
import { jsonPanel, jsonTree } from "./jsontree.js";
import { llmFigures } from "./summaries.js";
import { typeClass } from "./timeline.js";

const STATE_CACHE = 200;

/** States of one session by seq, fetched once each (the last STATE_CACHE kept). */
class States {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.cache = new Map();
  }

  get(seq) {
    let found = this.cache.get(seq);
    if (found) {
      this.cache.delete(seq);
      this.cache.set(seq, found);
      return found;
    }
    found = api.state(this.sessionId, seq);
    found.catch(() => this.cache.delete(seq));
    this.cache.set(seq, found);
    if (this.cache.size > STATE_CACHE) this.cache.delete(this.cache.keys().next().value);
    return found;
  }
}

function compactValue(value) {
  if (value === undefined) return "";
  return printable(shorten(JSON.stringify(value), 240));
}

export class Inspector {
  /** @param log the SessionLog; @param onSelect (seq) => go to an event */
  constructor(sessionId, log, { onSelect }) {
    this.log = log;
    this.onSelect = onSelect;
    this.states = new States(sessionId);
    this.seq = null;
    this.stateView = "changes";
    this.head = h("div", { class: "inspector-head" });
    this.body = h("div", { class: "inspector-body" });
    this.state = h("section", { class: "state", "aria-label": "State", "aria-live": "polite" });
    this.joinedFrame = h("div");
    this.element = h(
      "aside",
      { class: "inspector", "aria-label": "Selected event" },
      this.head,
      this.joinedFrame,
      this.state,
      this.body,
    );
    this.loadState = debounce((seq) => this.#showState(seq), 90);
    this.#empty();
  }

  #empty() {
    replace(this.head, h("h2", {}, "No event selected"));
    replace(this.joinedFrame);
    replace(
      this.body,
      h(
        "p",
        { class: "hint" },
        "Select an event, drag the slider or press j and k to see the state as it was after it.",
      ),
    );
    replace(this.state);
  }

  /** Show event `seq` (null: none). */
  show(seq) {
    this.seq = seq;
    const event = seq ? this.log.at(seq) : null;
    if (!event) {
      this.#empty();
      return;
    }
    replace(
      this.head,
      h(
        "div",
        { class: "inspector-title" },
        h("h2", {}, `#${count(seq)}`),
        h("span", { class: typeClass(event.type) }, event.type),
      ),
      h(
        "p",
        { class: "muted when" },
        h("span", { class: "mono" }, elapsed(event.offset)),
        " · ",
        h("time", { datetime: event.timestamp }, clock(event.time)),
      ),
    );
    replace(this.joinedFrame, this.#joined(event, seq));
    replace(
      this.body,
      jsonPanel("Payload", event.payload, { openDepth: 3 }),
      this.#metadata(event),
      h(
        "p",
        { class: "muted event-id" },
        "Event id ",
        h("code", {}, event.id),
        " ",
        copyButton(() => event.id, "Copy"),
      ),
    );
    replace(this.state, h("p", { class: "muted" }, `State after #${count(seq)}…`));
    this.loadState(seq);
  }

  #link(seq, text) {
    const link = h("button", { type: "button", class: "link" }, text);
    link.addEventListener("click", () => this.onSelect(seq, { from: "link" }));
    return link;
  }

  #joined(event, seq) {
    const parts = [];
    if (event.causeSeq !== undefined) {
      const cause = this.log.at(event.causeSeq);
      parts.push(this.#pair("Answers", event.causeSeq, cause));
    }
    const answer = this.log.answerOf(seq);
    if (answer !== undefined) {
      const answered = this.log.at(answer);
      parts.push(
        this.#pair(answered.type === "error" ? "Failed with" : "Answered by", answer, answered),
      );
    }
    if (event.type === "llm_response" || event.type === "llm_request") {
      parts.push(
        h(
          "p",
          { class: "figures-line" },
          llmFigures(event.metadata, event.type === "llm_response").join(" · "),
        ),
      );
    }
    return parts.length ? h("div", { class: "joined" }, parts) : null;
  }

  #pair(verb, seq, event) {
    return h(
      "div",
      { class: `pair${event.type === "error" ? " failed" : ""}` },
      h("span", { class: "pair-verb" }, verb),
      this.#link(seq, `↳ #${seq}`),
      h("span", { class: typeClass(event.type) }, event.type),
      h("span", { class: "pair-summary" }, this.log.summary(event)),
      h(
        "details",
        { class: "pair-payload" },
        h("summary", {}, "Payload"),
        jsonTree(event.payload, { openDepth: 2 }),
      ),
    );
  }

  #metadata(event) {
    const entries = Object.entries(event.metadata || {});
    if (!entries.length) return null;
    return h(
      "details",
      { class: "metadata", open: true },
      h("summary", {}, "Metadata"),
      h(
        "dl",
        { class: "pairs" },
        entries.map(([key, value]) => [
          h("dt", {}, printable(key)),
          h("dd", {}, typeof value === "string" ? printable(value) : compactValue(value)),
        ]),
      ),
    );
  }

  async #showState(seq) {
    let after;
    let before;
    try {
      [after, before] = await Promise.all([this.states.get(seq), this.states.get(seq - 1)]);
    } catch (error) {
      if (this.seq === seq)
        replace(
          this.state,
          h("p", { class: "error-text" }, `The state could not be read: ${error.message}`),
        );
      return;
    }
    if (this.seq !== seq) return;
    const { changes, truncated } = diff(derived(before), derived(after));
    const tabs = h("div", { class: "segmented", role: "group", "aria-label": "State view" });
    const panel = h("div", { class: "state-panel" });
    const views = {
      changes: () => this.#changes(changes, truncated, seq),
      full: () =>
        jsonPanel(`State after #${count(seq)}`, after, { openDepth: 5, headingLevel: "h4" }),
    };
    const draw = () => {
      for (const button of tabs.children)
        button.setAttribute("aria-pressed", String(button.dataset.view === this.stateView));
      replace(panel, views[this.stateView]());
    };
    for (const [view, label] of [
      ["changes", `Changes from #${count(seq - 1)}`],
      ["full", "Full state"],
    ]) {
      const button = h("button", { type: "button", class: "segment", dataset: { view } }, label);
      button.addEventListener("click", () => {
        this.stateView = view;
        draw();
      });
      tabs.append(button);
    }
    replace(
      this.state,
      h(
        "div",
        { class: "state-head" },
        h("h3", {}, `State after #${count(seq)}`),
        h(
          "span",
          { class: "muted" },
          `version ${count(after.version)} · ${plural(after.tool_calls, "tool call")} · ${plural(after.errors, "error")}`,
        ),
      ),
      tabs,
      panel,
    );
    draw();
  }

  #changes(changes, truncated, seq) {
    if (!changes.length)
      return h("p", { class: "muted" }, `Event #${count(seq)} changed nothing in the state.`);
    const sign = { added: "+", removed: "−", changed: "~" };
    return h(
      "div",
      { class: "changes-wrap" },
      h(
        "ul",
        { class: "changes", "aria-label": "Changes" },
        changes.map((change) =>
          h(
            "li",
            { class: `change ${change.kind}` },
            h("span", { class: "change-sign", "aria-label": change.kind }, sign[change.kind]),
            h("code", { class: "change-path" }, printable(pathText(change.path))),
            change.kind !== "added"
              ? h("code", { class: "change-before" }, compactValue(change.before))
              : null,
            change.kind === "changed"
              ? h("span", { class: "change-arrow", "aria-hidden": "true" }, "→")
              : null,
            change.kind !== "removed"
              ? h("code", { class: "change-after" }, compactValue(change.after))
              : null,
          ),
        ),
      ),
      truncated ? h("p", { class: "muted" }, "More changes: see the full state.") : null,
    );
  }

  destroy() {
    this.loadState.cancel();
  }
}
