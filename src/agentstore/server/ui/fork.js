// Forking a session at an event: a dialog asks the name, the labels (added to the
// parent's) and, if wanted, the fork's id; the page then opens the fork.

import { api } from "./api.js";
import { h } from "./dom.js";
import { count } from "./format.js";

/** Labels from "key=value, key=value" (or one per line); throws on a pair without "=". */
function parseLabels(text) {
  const labels = {};
  for (const pair of text.split(/[,\n]/)) {
    const trimmed = pair.trim();
    if (!trimmed) continue;
    const equals = trimmed.indexOf("=");
    if (equals <= 0) throw new Error(`A label is key=value, not “${trimmed}”.`);
    labels[trimmed.slice(0, equals).trim()] = trimmed.slice(equals + 1).trim();
  }
  return labels;
}

/**
 * Ask how to fork `session` at `seq`, fork it, and call `onForked(fork)`.
 */
export function openForkDialog(session, seq, { onForked }) {
  const base = session.name || session.id;
  const name = h("input", { class: "field", id: "fork-name", name: "name", autocomplete: "off" });
  name.value = `${base} (fork at #${seq})`.slice(0, 200);
  const labels = h("input", {
    class: "field",
    id: "fork-labels",
    name: "labels",
    autocomplete: "off",
    placeholder: "key=value, key=value",
  });
  const forkId = h("input", {
    class: "field",
    id: "fork-id",
    name: "id",
    autocomplete: "off",
    placeholder: "generated",
    spellcheck: "false",
  });
  const problem = h("p", { class: "error-text", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button primary" }, `Fork at #${count(seq)}`);
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const form = h(
    "form",
    { class: "fork-form", method: "dialog" },
    h("h2", { id: "fork-title" }, `Fork “${base}” at #${count(seq)}`),
    h(
      "p",
      { class: "muted" },
      `The fork keeps events #1 to #${count(seq)} and continues on its own; the parent is not changed.`,
    ),
    h("label", { for: "fork-name" }, "Name"),
    name,
    h(
      "label",
      { for: "fork-labels" },
      "Labels ",
      h("span", { class: "muted" }, "(added to the parent’s)"),
    ),
    labels,
    h("label", { for: "fork-id" }, "Id ", h("span", { class: "muted" }, "(optional)")),
    forkId,
    problem,
    h("div", { class: "dialog-actions" }, cancel, submit),
  );
  const dialog = h("dialog", { class: "fork-dialog", "aria-labelledby": "fork-title" }, form);
  document.body.appendChild(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    let body;
    try {
      body = { at_seq: seq, name: name.value.trim(), labels: parseLabels(labels.value) };
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
      return;
    }
    if (forkId.value.trim()) body.id = forkId.value.trim();
    submit.disabled = true;
    submit.textContent = "Forking…";
    try {
      const fork = await api.fork(session.id, body);
      dialog.close();
      onForked(fork);
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
      submit.disabled = false;
      submit.textContent = `Fork at #${count(seq)}`;
    }
  });
  dialog.showModal();
  name.focus();
  name.select();
}
