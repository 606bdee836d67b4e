// A session's events, one row each (virtualised: only the rows in view are built), with
// the time since the first event, the type, what the event answers (↳) and what answered
// it (→), filters by type and text, and a slider that steps through the session.

import { debounce, h, replace } from "./dom.js";
import { count, duration, elapsed } from "./format.js";
import { VirtualList } from "./virtual.js";

const KNOWN_TYPES = new Set([
  "user_message",
  "plan_created",
  "tool_called",
  "tool_result",
  "llm_request",
  "llm_response",
  "state_updated",
  "error",
]);

/** The class that colours a type's badge. */
export function typeClass(type) {
  return `type type-${KNOWN_TYPES.has(type) ? type : type.startsWith("agent") ? "agent" : "custom"}`;
}

export class Timeline {
  /**
   * @param log the SessionLog
   * @param onSelect (seq) => the user chose an event
   * @param filters {types: [...], text} to start with
   * @param onFilter (filters) => the filters changed
   */
  constructor(log, { onSelect, filters = {}, onFilter = () => {} }) {
    this.log = log;
    this.onSelect = onSelect;
    this.onFilter = onFilter;
    this.types = new Set(filters.types || []);
    this.text = filters.text || "";
    this.selected = null;
    this.rows = []; // the seqs shown, in order
    this.unseen = 0;

    this.chips = h("div", { class: "type-chips", role: "group", "aria-label": "Show types" });
    this.search = h("input", {
      type: "search",
      class: "field",
      placeholder: "Filter events…",
      "aria-label": "Filter events by text",
      value: this.text,
    });
    this.search.value = this.text;
    this.search.addEventListener(
      "input",
      debounce(() => this.#setText(this.search.value), 150),
    );
    this.slider = h("input", {
      type: "range",
      min: "1",
      max: "1",
      value: "1",
      class: "slider",
      "aria-label": "Step through the session",
    });
    this.slider.addEventListener("input", () =>
      this.onSelect(Number(this.slider.value), { from: "slider" }),
    );
    this.position = h("output", { class: "position" });
    this.scroller = h("div", {
      class: "events",
      role: "listbox",
      tabindex: "0",
      "aria-label": "Events",
    });
    this.pill = h("button", { type: "button", class: "new-pill", hidden: true }, "");
    this.pill.addEventListener("click", () => {
      this.list.scrollToEnd();
      this.#hidePill();
    });
    this.empty = h("p", { class: "empty", hidden: true });
    this.element = h(
      "section",
      { class: "timeline", "aria-label": "Timeline" },
      h("div", { class: "timeline-tools" }, this.chips, this.search),
      h(
        "div",
        { class: "scrubber" },
        h("span", { class: "scrubber-label" }, "Step"),
        this.slider,
        this.position,
      ),
      h("div", { class: "events-frame" }, this.scroller, this.pill, this.empty),
    );
    this.list = new VirtualList(this.scroller, {
      createRow: () => this.#createRow(),
      renderRow: (row, index) => this.#renderRow(row, index),
    });
    this.scroller.addEventListener("click", (event) => this.#clicked(event));
    this.scroller.addEventListener("keydown", (event) => {
      // The list's own keys, as a listbox's: arrows step, Home and End go to the ends.
      const steps = {
        ArrowDown: 1,
        ArrowUp: -1,
        PageDown: 10,
        PageUp: -10,
        Home: -Infinity,
        End: Infinity,
      };
      const step = steps[event.key];
      if (step === undefined || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      const seq = Number.isFinite(step)
        ? this.neighbour(step)
        : this.rows[step > 0 ? this.rows.length - 1 : 0];
      if (seq) this.onSelect(seq, { from: "key" });
    });
    this.scroller.addEventListener("scroll", () => {
      if (this.unseen && this.list.atEnd()) this.#hidePill();
    });
    this.#rebuild();
  }

  /** New events were added to the log (live or while loading). */
  grew(added, { live = false } = {}) {
    const following = this.list.atEnd();
    const before = this.rows.length;
    if (this.#filtering()) {
      for (let seq = this.log.length - added + 1; seq <= this.log.length; seq += 1) {
        if (this.#matches(this.log.at(seq))) this.rows.push(seq);
      }
    } else {
      for (let seq = this.rows.length + 1; seq <= this.log.length; seq += 1) this.rows.push(seq);
    }
    this.list.setCount(this.rows.length);
    this.#chipsChanged();
    this.#sliderChanged();
    this.#emptyChanged();
    const shown = this.rows.length - before;
    if (live && shown) {
      if (following) this.list.scrollToEnd();
      else {
        this.unseen += shown;
        this.pill.textContent = `↓ ${count(this.unseen)} new`;
        this.pill.hidden = false;
      }
    }
  }

  /** Show `seq` as the selected event; with `scroll`, bring it into view. */
  select(seq, { scroll = "nearest" } = {}) {
    this.selected = seq;
    this.slider.value = String(seq || 1);
    this.#sliderChanged();
    const index = seq ? this.#indexOf(seq) : -1;
    if (index >= 0 && scroll) this.list.scrollToIndex(index, scroll);
    this.list.refresh();
    const row = index >= 0 ? this.list.rowAt(index) : null;
    if (row) this.scroller.setAttribute("aria-activedescendant", row.id);
    else this.scroller.removeAttribute("aria-activedescendant");
  }

  /** The seq `step` rows after (or before, if negative) the selected one, among those shown. */
  neighbour(step) {
    if (!this.rows.length) return null;
    if (this.selected === null) return step > 0 ? this.rows[0] : this.rows[this.rows.length - 1];
    let index = this.#indexOf(this.selected);
    if (index < 0) {
      index = this.rows.findIndex((seq) => seq > this.selected);
      index = index < 0 ? this.rows.length : index;
      if (step > 0) return this.rows[Math.min(index, this.rows.length - 1)];
    }
    const next = Math.min(Math.max(index + step, 0), this.rows.length - 1);
    return this.rows[next];
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  destroy() {
    this.list.destroy();
  }

  #filtering() {
    return this.types.size > 0 || this.text !== "";
  }

  #matches(event) {
    if (this.types.size && !this.types.has(event.type)) return false;
    if (!this.text) return true;
    const needle = this.text.toLowerCase();
    return event.type.includes(needle) || this.log.summary(event).toLowerCase().includes(needle);
  }

  #rebuild() {
    this.rows = [];
    for (let seq = 1; seq <= this.log.length; seq += 1) {
      if (!this.#filtering() || this.#matches(this.log.at(seq))) this.rows.push(seq);
    }
    this.list.setCount(this.rows.length);
    this.#chipsChanged(true);
    this.#sliderChanged();
    this.#emptyChanged();
    if (this.selected) this.select(this.selected, { scroll: "center" });
  }

  #setText(text) {
    this.text = text.trim();
    this.#rebuild();
    this.onFilter({ types: [...this.types], text: this.text });
  }

  #toggleType(type) {
    if (this.types.has(type)) this.types.delete(type);
    else this.types.add(type);
    this.#rebuild();
    this.onFilter({ types: [...this.types], text: this.text });
  }

  #chipsChanged(force = false) {
    const types = [...this.log.types.keys()].sort();
    if (!force && this.chips.childElementCount === types.length) {
      for (const chip of this.chips.children) {
        chip.querySelector(".chip-count").textContent = count(
          this.log.types.get(chip.dataset.type),
        );
      }
      return;
    }
    replace(
      this.chips,
      types.map((type) => {
        const chip = h(
          "button",
          {
            type: "button",
            class: `chip ${typeClass(type)}`,
            "aria-pressed": String(this.types.has(type)),
            dataset: { type },
          },
          h("span", {}, type),
          h("span", { class: "chip-count" }, count(this.log.types.get(type))),
        );
        chip.addEventListener("click", () => this.#toggleType(type));
        return chip;
      }),
    );
  }

  #sliderChanged() {
    const last = Math.max(this.log.length, 1);
    this.slider.max = String(last);
    this.slider.disabled = this.log.length === 0;
    if (this.selected) this.slider.value = String(this.selected);
    const shown = this.#filtering() ? ` · ${count(this.rows.length)} shown` : "";
    this.position.textContent = this.selected
      ? `#${count(this.selected)} of ${count(this.log.length)}${shown}`
      : `${count(this.log.length)} events${shown}`;
  }

  #emptyChanged() {
    this.empty.hidden = this.rows.length > 0;
    this.empty.textContent = this.log.length
      ? "No event matches these filters."
      : "No events yet: they appear here as the agent records them.";
  }

  #hidePill() {
    this.unseen = 0;
    this.pill.hidden = true;
  }

  #indexOf(seq) {
    if (!this.#filtering()) return seq >= 1 && seq <= this.rows.length ? seq - 1 : -1;
    let low = 0;
    let high = this.rows.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (this.rows[middle] === seq) return middle;
      if (this.rows[middle] < seq) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  #clicked(event) {
    const jump = event.target.closest("[data-jump]");
    if (jump) {
      event.stopPropagation();
      this.onSelect(Number(jump.dataset.jump), { from: "link" });
      return;
    }
    const row = event.target.closest(".event-row");
    if (row) this.onSelect(Number(row.dataset.seq), { from: "click" });
  }

  #createRow() {
    const row = h(
      "div",
      { class: "event-row", role: "option" },
      h("span", { class: "event-seq" }),
      h("span", { class: "event-time" }),
      h("span", { class: "event-type" }),
      h(
        "span",
        { class: "event-text" },
        h("span", { class: "jump cause", hidden: true }),
        h("span", { class: "event-summary" }),
      ),
      h("span", { class: "event-side" }),
    );
    return row;
  }

  #renderRow(row, index) {
    const seq = this.rows[index];
    const event = this.log.at(seq);
    const [seqCell, timeCell, typeCell, textCell, sideCell] = row.children;
    row.dataset.seq = String(seq);
    row.id = `event-${seq}`;
    const selected = seq === this.selected;
    row.setAttribute("aria-selected", String(selected));
    row.classList.toggle("selected", selected);
    const failed = event.type === "error";
    row.classList.toggle("failed", failed);
    seqCell.textContent = String(seq);
    timeCell.textContent = elapsed(event.offset);
    timeCell.title = new Date(event.time).toISOString();
    typeCell.className = `event-type ${typeClass(event.type)}`;
    typeCell.textContent = event.type;
    const [cause, summary] = textCell.children;
    if (event.causeSeq !== undefined) {
      cause.hidden = false;
      cause.textContent = `↳${event.causeSeq}`;
      cause.dataset.jump = String(event.causeSeq);
      cause.title = `Answers #${event.causeSeq}`;
    } else {
      cause.hidden = true;
      delete cause.dataset.jump;
    }
    summary.textContent = this.log.summary(event);
    this.#renderSide(sideCell, event, seq);
  }

  #renderSide(cell, event, seq) {
    const answer = this.log.answerOf(seq);
    cell.replaceChildren();
    cell.className = "event-side";
    if (answer !== undefined) {
      const answered = this.log.at(answer);
      const failed = answered.type === "error";
      const took = answered.metadata.duration_ms;
      const link = h(
        "span",
        {
          class: `jump answer${failed ? " failed" : ""}`,
          dataset: { jump: String(answer) },
          title: failed ? `Failed: #${answer}` : `Answered by #${answer}`,
        },
        failed ? `✕ ${answer}` : `→ ${answer}`,
      );
      cell.append(link);
      if (took) cell.append(h("span", { class: "took" }, duration(took)));
    } else if (event.metadata.duration_ms) {
      cell.append(h("span", { class: "took" }, duration(event.metadata.duration_ms)));
    } else if (event.type === "tool_called" || event.type === "llm_request") {
      cell.append(h("span", { class: "pending", title: "No answer yet" }, "…"));
    }
  }
}
