// A JSON value as a tree the user can fold (<details>), every key and value as text.
// A folded branch is built only when first opened, and long ones a slice at a time, so
// a large payload costs what is shown of it.

import { copyButton, h } from "./dom.js";
import { printable } from "./format.js";

const SLICE = 200;

const isBranch = (value) => value !== null && typeof value === "object";

function leaf(value) {
  if (value === null) return h("span", { class: "j-null" }, "null");
  switch (typeof value) {
    case "string":
      return h("span", { class: "j-string" }, printable(JSON.stringify(value), { lines: true }));
    case "number":
      return h("span", { class: "j-number" }, String(value));
    case "boolean":
      return h("span", { class: "j-bool" }, String(value));
    default:
      return h("span", {}, String(value));
  }
}

function keyLabel(key, inArray) {
  if (key === undefined) return null;
  return h(
    "span",
    { class: inArray ? "j-index" : "j-key" },
    inArray ? `${key}: ` : `${printable(JSON.stringify(key))}: `,
  );
}

function entriesOf(value) {
  return Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
}

function node(value, key, inArray, depth, openDepth) {
  if (!isBranch(value)) {
    return h("div", { class: "j-row" }, keyLabel(key, inArray), leaf(value));
  }
  const array = Array.isArray(value);
  const entries = entriesOf(value);
  const [open, close] = array ? ["[", "]"] : ["{", "}"];
  if (!entries.length) {
    return h(
      "div",
      { class: "j-row" },
      keyLabel(key, inArray),
      h("span", { class: "j-brace" }, open + close),
    );
  }
  const size = array
    ? `${entries.length} item${entries.length === 1 ? "" : "s"}`
    : `${entries.length} key${entries.length === 1 ? "" : "s"}`;
  const children = h("div", { class: "j-children" });
  const details = h(
    "details",
    { class: "j-branch" },
    h(
      "summary",
      {},
      keyLabel(key, inArray),
      h("span", { class: "j-brace" }, open),
      h("span", { class: "j-size" }, size),
    ),
    children,
    h("div", { class: "j-close" }, close),
  );
  let shown = 0;
  const more = () => {
    const end = Math.min(shown + SLICE, entries.length);
    for (; shown < end; shown += 1) {
      const [childKey, child] = entries[shown];
      children.appendChild(node(child, childKey, array, depth + 1, openDepth));
    }
    if (shown < entries.length) {
      const rest = entries.length - shown;
      const button = h(
        "button",
        { type: "button", class: "button small ghost" },
        `Show ${Math.min(rest, SLICE)} more of ${rest}`,
      );
      button.addEventListener("click", () => {
        button.remove();
        more();
      });
      children.appendChild(button);
    }
  };
  details.addEventListener("toggle", () => {
    if (details.open && !shown) more();
  });
  if (depth < openDepth) {
    details.open = true;
    more();
  }
  return details;
}

/** A foldable view of `value`, its first `openDepth` levels open. */
export function jsonTree(value, { openDepth = 2 } = {}) {
  return h("div", { class: "json-tree" }, node(value, undefined, false, 0, openDepth));
}

/** A titled JSON view with a copy button. */
export function jsonPanel(title, value, { openDepth = 2, headingLevel = "h3" } = {}) {
  return h(
    "section",
    { class: "json-panel" },
    h(
      "div",
      { class: "panel-head" },
      h(headingLevel, {}, title),
      copyButton(() => JSON.stringify(value, null, 2), "Copy JSON"),
    ),
    jsonTree(value, { openDepth }),
  );
}
