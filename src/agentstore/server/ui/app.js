// The page: its token, the header (live status, access, theme), and the routes: "/" the
// sessions, "/sessions/ID" one session (?seq=N, ?view=...). Links marked data-nav change
// the view without loading the page again (history.pushState).

import { api, auth, pagePath, routePath } from "./api.js";
import { h, replace } from "./dom.js";
import { installKeys } from "./keys.js";
import { SessionView } from "./session.js";
import { SessionsView } from "./sessions.js";

const main = document.getElementById("main");
const crumbs = document.querySelector(".crumbs");
const live = document.querySelector(".live");
const access = document.querySelector(".access");
const banner = document.querySelector(".banner");
const themeToggle = document.querySelector(".theme-toggle");
const keysDialog = document.querySelector(".keys-dialog");

let health = null;
let current = null; // the view on screen: {element, destroy(), keys(), update?()}
let currentKey = "";

const LIVE_TEXT = { live: "Live", connecting: "Connecting…", offline: "Offline" };

const context = {
  canWrite: () => health?.access === "write" && !health.read_only,
  navigate,
  setCrumbs(nodes) {
    const parts = [h("a", { href: pagePath("/"), "data-nav": "" }, "Sessions")];
    for (const node of nodes)
      parts.push(h("span", { class: "crumb-sep", "aria-hidden": "true" }, "/"), node);
    replace(crumbs, parts);
  },
  setLive(status) {
    live.hidden = false;
    live.dataset.status = status;
    live.textContent = LIVE_TEXT[status] || status;
  },
  showError(message) {
    banner.hidden = !message;
    banner.textContent = message || "";
  },
};

function route() {
  const path = routePath(window.location.pathname);
  const params = new URLSearchParams(window.location.search);
  const match = /^\/sessions\/([^/]+)\/?$/.exec(path);
  if (match) {
    const id = decodeURIComponent(match[1]);
    return { key: `session:${id}`, create: () => new SessionView(context, id, params), params };
  }
  return { key: "sessions", create: () => new SessionsView(context, params), params };
}

function render() {
  const next = route();
  if (current && next.key === currentKey) {
    current.update?.(next.params);
    return;
  }
  current?.destroy();
  live.hidden = true;
  context.showError(null);
  currentKey = next.key;
  current = next.create();
  replace(main, current.element);
}

/**
 * Go to `url`. `replace` changes the current history entry instead of adding one;
 * `quiet` only records the address (the view already shows it).
 */
function navigate(url, { replace: replaceEntry = false, quiet = false } = {}) {
  if (url === window.location.pathname + window.location.search) return;
  if (replaceEntry) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  if (!quiet) {
    render();
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
}

function interceptLinks() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
  window.addEventListener("popstate", render);
}

function setUpTheme() {
  const root = document.documentElement;
  const dark = () =>
    root.dataset.theme
      ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
  const label = () => {
    const next = dark() ? "light" : "dark";
    themeToggle.textContent = dark() ? "☀" : "☾";
    themeToggle.setAttribute("aria-label", `Switch to the ${next} theme`);
    themeToggle.title = `Switch to the ${next} theme`;
  };
  themeToggle.addEventListener("click", () => {
    root.dataset.theme = dark() ? "light" : "dark";
    try {
      window.localStorage.setItem("agentstore.theme", root.dataset.theme);
    } catch (blocked) {
      // The choice holds for this page only.
    }
    label();
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", label);
  label();
}

function setUpKeys() {
  document.querySelector(".keys-button").addEventListener("click", () => keysDialog.showModal());
  installKeys(() => ({ ...(current?.keys?.() || {}), help: () => keysDialog.showModal() }));
}

function askForToken(message) {
  const field = h("input", {
    type: "password",
    id: "token-field",
    class: "field",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "token-form" },
    h("h1", {}, "This store needs a token"),
    h("p", { class: "muted" }, message),
    h("label", { for: "token-field" }, "Token"),
    field,
    h("button", { type: "submit", class: "button primary" }, "Open"),
    h(
      "p",
      { class: "muted small" },
      "Kept for this tab only (sessionStorage). `agentstore ui` opens the page with its token.",
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    auth.token = field.value.trim();
    start();
  });
  replace(main, form);
  field.focus();
}

async function start() {
  try {
    health = await api.health();
  } catch (error) {
    replace(
      main,
      h(
        "div",
        { class: "empty-state" },
        h("h1", {}, "The server does not answer"),
        h("p", { class: "muted" }, error.message),
      ),
    );
    return;
  }
  if (health.access === null) {
    askForToken(
      auth.token
        ? "The token given is not accepted: enter another."
        : "Enter a token of this server to read its sessions.",
    );
    return;
  }
  access.hidden = context.canWrite();
  access.textContent = health.read_only ? "Read-only store" : "Read-only token";
  render();
}

document.querySelector(".brand").setAttribute("href", pagePath("/"));
auth.adoptFromLocation();
setUpTheme();
setUpKeys();
interceptLinks();
start();
