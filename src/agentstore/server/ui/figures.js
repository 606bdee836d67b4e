// A session's figures per model, tool and type: the tables of `agentstore stats`.

import { h } from "./dom.js";
import { cost, count, duration, plural, printable } from "./format.js";

function table(caption, headers, rows, numeric) {
  return h(
    "table",
    { class: "data-table" },
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((header, index) =>
          h("th", { scope: "col", class: numeric.has(index) ? "num" : null }, header),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          {},
          row.map((cell, index) => h("td", { class: numeric.has(index) ? "num" : null }, cell)),
        ),
      ),
    ),
  );
}

/** The cost with what it leaves out, as the command line says it. */
export function costText(tokens) {
  let text = cost(tokens.cost_usd);
  if (tokens.unpriced) text += ` + ${plural(tokens.unpriced, "unpriced call")}`;
  if (tokens.unknown) text += ` + ${plural(tokens.unknown, "call")} of unknown usage`;
  return text;
}

/** The tables of a session's stats (the JSON of GET /v1/sessions/ID/stats). */
export function statsTables(stats) {
  const tokens = stats.tokens;
  const summary = h(
    "dl",
    { class: "pairs stats-summary" },
    [
      ["Duration", duration(stats.duration_ms)],
      ["Events", count(stats.events)],
      ["Tool calls", count(stats.tool_calls)],
      ["Errors", count(stats.errors)],
      [
        "Tokens",
        `${count(tokens.in)} in / ${count(tokens.out)} out / ${count(tokens.total)} total`,
      ],
      ...(tokens.cache_read || tokens.cache_write
        ? [
            [
              "Cached",
              `${count(tokens.cache_read || 0)} read / ${count(tokens.cache_write || 0)} written`,
            ],
          ]
        : []),
      ["Cost", costText(tokens)],
    ].map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
  );
  const models = Object.entries(stats.models).map(([name, model]) => [
    printable(name) || "(no model)",
    count(Math.max(model.requests, model.responses)),
    count(model.tokens_in),
    count(model.tokens_out),
    cost(model.cost_usd) +
      (model.unpriced ? " + unpriced" : "") +
      (model.unknown ? " + unknown" : ""),
  ]);
  const tools = Object.entries(stats.tools).map(([name, tool]) => [
    printable(name) || "(no tool)",
    count(tool.calls),
    count(tool.errors),
    tool.mean_duration_ms === null ? "-" : duration(tool.mean_duration_ms),
  ]);
  const types = Object.entries(stats.types).map(([type, n]) => [type, count(n)]);
  return h(
    "div",
    { class: "stats-tables" },
    summary,
    models.length
      ? table("Models", ["Model", "Calls", "In", "Out", "Cost"], models, new Set([1, 2, 3, 4]))
      : h("p", { class: "muted" }, "No LLM call in this session."),
    tools.length
      ? table("Tools", ["Tool", "Calls", "Errors", "Mean time"], tools, new Set([1, 2, 3]))
      : h("p", { class: "muted" }, "No tool call in this session."),
    table("Events by type", ["Type", "Count"], types, new Set([1])),
  );
}
