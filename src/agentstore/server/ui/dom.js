// Building elements: every value goes in as text or as an attribute, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** An HTML element: h("a", {href, class: "x"}, "text", child, ...). */
export function h(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element, as h() builds HTML ones. */
export function svg(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** Append children: nodes as they are, strings and numbers as text, arrays flattened. */
export function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Whether an event's target is a field the user types in. */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  return !["button", "checkbox", "radio", "range", "submit", "reset"].includes(target.type);
}

/** Copy text to the clipboard; true when it worked. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (refused) {
    // Fall back to a selection below.
  }
  const area = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.appendChild(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch (refused) {
    done = false;
  }
  area.remove();
  return done;
}

/** A button that copies what `text()` gives, and says so. */
export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "button small ghost" }, label);
  button.addEventListener("click", async () => {
    const done = await copyText(text());
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => {
      button.textContent = label;
    }, 1200);
  });
  return button;
}

/** Call `action` once calls have stopped for `wait` ms. */
export function debounce(action, wait) {
  let timer = 0;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), wait);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/** Call `action` `wait` ms after a first call, once for all the calls made meanwhile: a
 * steady stream of calls still runs it every `wait` ms. */
export function throttle(action, wait) {
  let timer = 0;
  const throttled = () => {
    if (!timer) {
      timer = setTimeout(() => {
        timer = 0;
        action();
      }, wait);
    }
  };
  throttled.cancel = () => {
    clearTimeout(timer);
    timer = 0;
  };
  return throttled;
}
