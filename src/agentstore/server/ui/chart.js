// The cumulative tokens (area) and cost (line) of a session, event by event, as inline
// SVG drawn here. Hovering reads the figures at an event; a click goes to it.

import { h, replace, svg } from "./dom.js";
import { compact, cost, count } from "./format.js";

const WIDTH = 760;
const HEIGHT = 240;
const MARGIN = { left: 56, right: 70, top: 14, bottom: 30 };
const MOST_POINTS = 600;

/** A round upper bound and its ticks: 0, 250, 500, 750, 1,000. */
function scale(max) {
  if (!(max > 0)) return { top: 1, ticks: [0, 1] };
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const top = Math.ceil(max / step) * step;
  const ticks = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) ticks.push(tick);
  return { top, ticks };
}

/** Which events are drawn: all of them, or the last of each of MOST_POINTS buckets. */
function sampled(n) {
  if (n <= MOST_POINTS) return Array.from({ length: n }, (_, index) => index);
  const step = n / MOST_POINTS;
  return Array.from({ length: MOST_POINTS }, (_, index) =>
    Math.min(n - 1, Math.floor((index + 1) * step) - 1),
  );
}

export class CostChart {
  /** @param log the SessionLog; @param onPick (seq) => go to an event */
  constructor(log, { onPick }) {
    this.log = log;
    this.onPick = onPick;
    this.readout = h(
      "p",
      { class: "chart-readout muted" },
      "Point at the chart to read the figures after an event; click to open it.",
    );
    this.frame = h("div", { class: "chart-frame" });
    this.element = h(
      "figure",
      { class: "chart" },
      this.frame,
      h(
        "figcaption",
        { class: "chart-legend" },
        h("span", { class: "legend-tokens" }, "Tokens (in + out), cumulative"),
        h("span", { class: "legend-cost" }, "Cost, cumulative"),
      ),
      this.readout,
    );
    this.draw();
  }

  draw() {
    const n = this.log.length;
    const tokens = this.log.cumulativeTokens;
    const costs = this.log.cumulativeCost;
    if (!n || (!tokens[n - 1] && !costs[n - 1])) {
      replace(
        this.frame,
        h("p", { class: "empty" }, "No tokens or cost recorded in this session."),
      );
      return;
    }
    const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    const tokenScale = scale(tokens[n - 1]);
    const costScale = scale(costs[n - 1]);
    const x = (index) => MARGIN.left + (n === 1 ? plotWidth : (index / (n - 1)) * plotWidth);
    const yTokens = (value) => MARGIN.top + plotHeight - (value / tokenScale.top) * plotHeight;
    const yCost = (value) => MARGIN.top + plotHeight - (value / costScale.top) * plotHeight;
    const points = sampled(n);
    const line = (y, values) =>
      points
        .map((index, i) => `${i ? "L" : "M"}${x(index).toFixed(1)},${y(values[index]).toFixed(1)}`)
        .join("");
    const baseline = MARGIN.top + plotHeight;
    const area = `${line(yTokens, tokens)}L${x(points[points.length - 1]).toFixed(1)},${baseline}L${x(points[0]).toFixed(1)},${baseline}Z`;

    const grid = tokenScale.ticks.map((tick) =>
      svg(
        "g",
        {},
        svg("line", {
          class: "grid",
          x1: MARGIN.left,
          x2: WIDTH - MARGIN.right,
          y1: yTokens(tick),
          y2: yTokens(tick),
        }),
        svg(
          "text",
          {
            class: "axis tokens-axis",
            x: MARGIN.left - 8,
            y: yTokens(tick) + 4,
            "text-anchor": "end",
          },
          compact(tick),
        ),
      ),
    );
    const costTicks = costScale.ticks.map((tick) =>
      svg(
        "text",
        {
          class: "axis cost-axis",
          x: WIDTH - MARGIN.right + 8,
          y: yCost(tick) + 4,
          "text-anchor": "start",
        },
        tick ? cost(tick) : "$0",
      ),
    );
    const seqTicks = scale(n).ticks.filter((tick) => tick >= 1 && tick <= n);
    if (!seqTicks.includes(1)) seqTicks.unshift(1);
    const xTicks = seqTicks.map((seq) =>
      svg(
        "text",
        { class: "axis", x: x(seq - 1), y: HEIGHT - 8, "text-anchor": "middle" },
        `#${count(seq)}`,
      ),
    );
    this.cursor = svg("line", {
      class: "cursor",
      x1: 0,
      x2: 0,
      y1: MARGIN.top,
      y2: baseline,
      visibility: "hidden",
    });
    const chart = svg(
      "svg",
      {
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        role: "img",
        "aria-label": `Cumulative tokens and cost over ${count(n)} events: ${count(tokens[n - 1])} tokens, ${cost(costs[n - 1])}`,
        class: "chart-svg",
      },
      grid,
      svg("path", { class: "tokens-area", d: area }),
      svg("path", { class: "tokens-line", d: line(yTokens, tokens) }),
      svg("path", { class: "cost-line", d: line(yCost, costs) }),
      costTicks,
      xTicks,
      this.cursor,
    );
    const seqAt = (event) => {
      const rect = chart.getBoundingClientRect();
      const along = ((event.clientX - rect.left) / rect.width) * WIDTH;
      const ratio = Math.min(Math.max((along - MARGIN.left) / plotWidth, 0), 1);
      return Math.round(ratio * (n - 1)) + 1;
    };
    chart.addEventListener("pointermove", (event) => {
      const seq = seqAt(event);
      this.cursor.setAttribute("x1", x(seq - 1));
      this.cursor.setAttribute("x2", x(seq - 1));
      this.cursor.setAttribute("visibility", "visible");
      this.readout.textContent = `After #${count(seq)}: ${count(tokens[seq - 1])} tokens · ${cost(costs[seq - 1])}`;
    });
    chart.addEventListener("pointerleave", () => this.cursor.setAttribute("visibility", "hidden"));
    chart.addEventListener("click", (event) => this.onPick(seqAt(event)));
    replace(this.frame, chart);
  }
}
