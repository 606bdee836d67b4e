// The keyboard: j and k step, / searches, Esc leaves and clears, ? lists the keys. The
// view on screen handles each through `handlers()`, which returns its own.

import { isTyping } from "./dom.js";

/** Listen to the keys for as long as the page lives. */
export function installKeys(handlers) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return; // a dialog's own keys: Esc closes it
    const current = handlers() || {};
    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
        current.leftField?.(event.target);
        event.preventDefault();
      }
      return;
    }
    const action = {
      j: current.next,
      k: current.previous,
      "/": current.search,
      Escape: current.escape,
      "?": current.help,
    }[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
}
