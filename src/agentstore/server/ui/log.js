// A session's events as the page holds them: in seq order, with what each answers (its
// call, by metadata.cause_id) and what answered it, and the running sums of the default
// reducer (tokens and cost of LLM events, tool calls, errors), kept as events arrive.

import { parseTime } from "./format.js";
import { summarize } from "./summaries.js";

const LLM_TYPES = new Set(["llm_request", "llm_response"]);

export class SessionLog {
  constructor() {
    this.events = []; // events[seq - 1]
    this.seqById = new Map();
    this.answers = new Map(); // seq of a call -> seq of the first event answering it
    this.types = new Map(); // type -> count
    this.start = NaN;
    this.totals = { tokensIn: 0, tokensOut: 0, cost: 0, toolCalls: 0, errors: 0, unpriced: 0 };
    // After each event: cumulative tokens (in + out) and cost, for the chart.
    this.cumulativeTokens = [];
    this.cumulativeCost = [];
    this.listeners = new Set();
  }

  get length() {
    return this.events.length;
  }

  /** The event of `seq`, or undefined. */
  at(seq) {
    return this.events[seq - 1];
  }

  /** Add events in seq order; those already held are skipped. Returns how many were new. */
  add(events) {
    let added = 0;
    for (const event of events) {
      if (event.sequence_number !== this.events.length + 1) continue;
      this.#index(event);
      added += 1;
    }
    if (added) for (const listener of this.listeners) listener(added);
    return added;
  }

  /** Call `listener(added)` whenever events are added; returns the function that stops it. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  #index(event) {
    const metadata = event.metadata || (event.metadata = {});
    const time = parseTime(event.timestamp);
    if (Number.isNaN(this.start)) this.start = time;
    event.time = time;
    event.offset = time - this.start;
    this.events.push(event);
    const seq = event.sequence_number;
    this.seqById.set(event.id, seq);
    const cause = metadata.cause_id ? this.seqById.get(metadata.cause_id) : undefined;
    event.causeSeq = cause;
    if (cause !== undefined && !this.answers.has(cause)) this.answers.set(cause, seq);
    this.types.set(event.type, (this.types.get(event.type) || 0) + 1);
    const totals = this.totals;
    if (LLM_TYPES.has(event.type)) {
      totals.tokensIn += metadata.tokens_in || 0;
      totals.tokensOut += metadata.tokens_out || 0;
      totals.cost += metadata.cost_usd || 0;
      if (
        event.type === "llm_response" &&
        !metadata.cost_source &&
        !metadata.cost_usd &&
        (metadata.tokens_in || metadata.tokens_out)
      ) {
        totals.unpriced += 1;
      }
    } else if (event.type === "tool_called") totals.toolCalls += 1;
    else if (event.type === "error") totals.errors += 1;
    this.cumulativeTokens.push(totals.tokensIn + totals.tokensOut);
    this.cumulativeCost.push(totals.cost);
  }

  /** The seq of the event answering the call `seq`, if any. */
  answerOf(seq) {
    return this.answers.get(seq);
  }

  /** An event's one-line summary, computed once. */
  summary(event) {
    if (event.summaryText === undefined) event.summaryText = summarize(event);
    return event.summaryText;
  }

  /** Wall time from the first event to the last, in ms. */
  get durationMs() {
    if (!this.events.length) return 0;
    return this.events[this.events.length - 1].time - this.start;
  }
}
