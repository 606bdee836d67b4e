// Numbers, times and money as the command line writes them (reports/summaries.py and
// cli/render.py), and stored text made safe to read.

/** 1,234 (by hand: the first Intl.NumberFormat of a page costs tens of ms) */
export function count(n) {
  const value = n || 0;
  if (!Number.isInteger(value)) return String(value);
  const digits = String(Math.abs(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return value < 0 ? `-${digits}` : digits;
}

/** "1 event", "2 events" */
export function plural(n, noun) {
  return `${count(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** 12.3k, 4.5M: a short count for tight columns (the title gives the exact one). */
export function compact(n) {
  const value = n || 0;
  if (Math.abs(value) < 10000) return count(value);
  if (Math.abs(value) < 1e6) return `${(value / 1e3).toFixed(value < 1e5 ? 1 : 0)}k`;
  return `${(value / 1e6).toFixed(1)}M`;
}

/** $0.0180, $0.00012: four decimals, or two significant digits below a tenth of a cent. */
export function cost(usd) {
  const value = usd || 0;
  if (value !== 0 && Math.abs(value) < 0.001) {
    const decimals = 1 - Math.floor(Math.log10(Math.abs(value)));
    return `$${value.toFixed(decimals)}`.replace(/0+$/, "").padEnd(7, "0");
  }
  return `$${value.toFixed(4)}`;
}

/** 640 ms, 1.2 s, 3m05s, 2h03m */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  let minutes = Math.floor(Math.round(seconds) / 60);
  const rest = Math.round(seconds) % 60;
  if (minutes < 60) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  minutes %= 60;
  return `${hours}h${String(minutes).padStart(2, "0")}m`;
}

/** +00:01.234, +1:02:03.456: the time since the session's first event. */
export function elapsed(ms) {
  let rest = Math.max(Math.round(ms), 0);
  const millis = rest % 1000;
  rest = Math.floor(rest / 1000);
  const seconds = rest % 60;
  let minutes = Math.floor(rest / 60);
  const two = (n) => String(n).padStart(2, "0");
  const tail = `${two(seconds)}.${String(millis).padStart(3, "0")}`;
  if (minutes < 60) return `+${two(minutes)}:${tail}`;
  const hours = Math.floor(minutes / 60);
  minutes %= 60;
  return `+${hours}:${two(minutes)}:${tail}`;
}

/** A stored time (RFC 3339, microseconds) as epoch milliseconds. */
export function parseTime(text) {
  if (!text) return NaN;
  return Date.parse(String(text).replace(/(\.\d{3})\d+/, "$1"));
}

/** 2026-01-31 12:00:00 UTC */
export function clock(ms) {
  if (!Number.isFinite(ms)) return "";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date. */
export function ago(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return "–";
  const seconds = Math.max((now - ms) / 1000, 0);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 86400 * 14) return plural(Math.round(seconds / 86400), "day") + " ago";
  return new Date(ms).toISOString().slice(0, 10);
}

// What a screen would act on rather than show: control characters, bidirectional
// overrides and other invisible format characters. Each is shown as an escape.
const HIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
const NAMED = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** Stored text with every character a screen would act on shown as an escape. */
export function printable(text, { lines = false } = {}) {
  const value = String(text);
  const escaped = value.replace(HIDDEN, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
  return lines
    ? escaped.replace(/[\r\t]/g, (c) => NAMED[c])
    : escaped.replace(/[\n\r\t]/g, (c) => NAMED[c]);
}

/** Text cut to `width` characters with an ellipsis. */
export function shorten(text, width) {
  return text.length <= width ? text : `${text.slice(0, Math.max(width - 1, 0))}…`;
}
