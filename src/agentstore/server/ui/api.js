// The /v1 API, as the page reads it: JSON, events as JSON lines, watches as Server-Sent
// Events read with fetch() (EventSource cannot send the Authorization header).

const ROOT = (document.querySelector('meta[name="agentstore-root"]')?.content || "").replace(
  /\/$/,
  "",
);
const TOKEN_KEY = "agentstore.token";
const LINES = "application/x-ndjson";
const CURSOR_HEADER = "agentstore-cursor";

/** A path of the page (under the path the server is mounted at). */
export function pagePath(path) {
  return ROOT + path;
}

/** The page's own path of a location, without the mount path. */
export function routePath(pathname) {
  return ROOT && pathname.startsWith(ROOT) ? pathname.slice(ROOT.length) || "/" : pathname;
}

function storage() {
  try {
    return window.sessionStorage;
  } catch (blocked) {
    return null;
  }
}

let memoryToken = null;

/** The bearer token of this tab: from #token=... once, then sessionStorage. */
export const auth = {
  get token() {
    return storage()?.getItem(TOKEN_KEY) ?? memoryToken;
  },
  set token(value) {
    memoryToken = value || null;
    const store = storage();
    if (!store) return;
    if (value) store.setItem(TOKEN_KEY, value);
    else store.removeItem(TOKEN_KEY);
  },
  /** Move a token given in the address's fragment to storage, and out of the address bar. */
  adoptFromLocation() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    const token = params.get("token");
    if (token === null) return;
    this.token = token.trim();
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(window.history.state, "", url);
  },
};

/** An answer of the API that is not a success, with the library's error type. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
  }
}

async function call(path, { method = "GET", body, signal, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const token = auth.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${ROOT}/v1${path}`, init);
  if (!response.ok) {
    let detail = null;
    try {
      detail = (await response.json()).error;
    } catch (unreadable) {
      detail = null;
    }
    throw new ApiError(response.status, detail?.type || "", detail?.message || response.statusText);
  }
  return response;
}

async function json(path, options) {
  return (await call(path, options)).json();
}

/** JSON lines as records: one parse for the lot (JSON strings hold no raw newline). */
function parseLines(text) {
  const body = text.trimEnd();
  return body ? JSON.parse(`[${body.replaceAll("\n", ",")}]`) : [];
}

const id = (sessionId) => encodeURIComponent(sessionId);

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const api = {
  health: (signal) => json("/health", { signal }),

  sessions: ({ limit, offset, q, labels, summary = true }, signal) =>
    json(`/sessions${query({ limit, offset, q, label: labels, summary })}`, { signal }),

  session: (sessionId, signal) => json(`/sessions/${id(sessionId)}`, { signal }),

  /** A page of events from `fromSeq` and the cursor of the next page (or null). */
  async events(sessionId, { fromSeq, toSeq, limit, cursor }, signal) {
    const path = `/sessions/${id(sessionId)}/events${query({ from_seq: fromSeq, to_seq: toSeq, limit, cursor })}`;
    const response = await call(path, { signal, accept: LINES });
    const events = parseLines(await response.text());
    return { events, cursor: response.headers.get(CURSOR_HEADER) };
  },

  state: (sessionId, atSeq, signal) =>
    json(`/sessions/${id(sessionId)}/state${query({ at_seq: atSeq })}`, { signal }),

  stats: (sessionId, signal) => json(`/sessions/${id(sessionId)}/stats`, { signal }),

  fork: (sessionId, body) => json(`/sessions/${id(sessionId)}/fork`, { method: "POST", body }),

  /** The messages of a watch: {event, id, data}, until the stream ends or `signal` aborts. */
  async *watch(path, signal) {
    const response = await call(path, { signal, accept: "text/event-stream" });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value.replaceAll("\r\n", "\n");
        let cut = buffer.indexOf("\n\n");
        while (cut >= 0) {
          const message = parseMessage(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (message) yield message;
          cut = buffer.indexOf("\n\n");
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  },

  sessionWatchPath: (sessionId, fromSeq) =>
    `/sessions/${id(sessionId)}/watch${query({ from_seq: fromSeq })}`,
  allWatchPath: () => "/watch",
};

function parseMessage(block) {
  const message = { event: "message", id: null, data: "" };
  let seen = false;
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") message.data = seen ? `${message.data}\n${value}` : value;
    else if (field === "event") message.event = value;
    else if (field === "id") message.id = value;
    seen = seen || field === "data";
  }
  return seen || message.event !== "message" ? message : null;
}
