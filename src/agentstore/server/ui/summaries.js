// One line about an event, worded as `agentstore replay` words it (reports/summaries.py):
// the user's text, the tool and its arguments or how long it took, the model with its
// tokens and cost, the error's message. Stored text is shown with escapes (printable).

import { cost, count, duration, printable, shorten } from "./format.js";

const TEXT_KEYS = ["content", "text", "message", "prompt", "input", "query"];
const ERROR_KEYS = ["error", "message", "error_message", "reason"];
const TOOL_KEYS = ["tool", "tool_name", "name"];
const UNKNOWN_USAGE = "unknown";
const WIDTH = 400; // a row shows less; the inspector shows the whole payload

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const compactJson = (value) => JSON.stringify(value === undefined ? null : value);
const quoted = (text) => `“${text.split(/\s+/).filter(Boolean).join(" ")}”`;

function firstText(payload, keys) {
  for (const key of keys) {
    if (typeof payload[key] === "string") return payload[key];
  }
  return null;
}

function toolName(payload, metadata) {
  return metadata.tool_name || firstText(payload, TOOL_KEYS) || "";
}

function userMessage(payload) {
  const text = firstText(payload, TEXT_KEYS);
  return text !== null ? quoted(text) : compactJson(payload);
}

function plan(payload) {
  const steps = payload.steps;
  if (Array.isArray(steps) && steps.length) {
    const names = steps.map((step) => (typeof step === "string" ? step : compactJson(step)));
    return `${steps.length} steps: ${names.join(" → ")}`;
  }
  const text = firstText(payload, ["plan", ...TEXT_KEYS]);
  return text !== null ? text : compactJson(payload);
}

function toolCalled(payload, metadata) {
  const name = toolName(payload, metadata);
  let args = payload.arguments ?? payload.args ?? payload.input;
  if (args === undefined) {
    args = Object.fromEntries(Object.entries(payload).filter(([key]) => !TOOL_KEYS.includes(key)));
  }
  let shown;
  if (isObject(args)) {
    shown = Object.entries(args)
      .map(([key, value]) => `${key}=${compactJson(value)}`)
      .join(", ");
  } else {
    shown = typeof args === "string" ? quoted(args) : compactJson(args);
  }
  return `${name || "tool"}(${shown})`;
}

function toolResult(payload, metadata) {
  const name = toolName(payload, metadata) || "tool";
  const took = metadata.duration_ms ? ` in ${duration(metadata.duration_ms)}` : "";
  const result = payload.result ?? payload.output ?? payload;
  return `${name}${took} → ${compactJson(result)}`;
}

function toolCallNames(calls) {
  if (!Array.isArray(calls)) return [];
  const names = [];
  for (const call of calls) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function.name : undefined;
    const name = call.name ?? fn;
    if (typeof name === "string") names.push(name);
  }
  return names;
}

function requestText(request) {
  if (typeof request === "string") return request;
  if (!isObject(request)) return null;
  const messages = request.messages;
  if (Array.isArray(messages) && messages.length && isObject(messages[messages.length - 1])) {
    return firstText(messages[messages.length - 1], TEXT_KEYS);
  }
  return firstText(request, TEXT_KEYS);
}

/** The figures of an LLM event: model · tokens · cost · time (no text). */
export function llmFigures(metadata, answer) {
  const parts = [metadata.model || "llm"];
  const tokens = [
    [metadata.tokens_in, "in"],
    [metadata.tokens_out, "out"],
  ]
    .filter(([n]) => n)
    .map(([n, way]) => `${count(n)} ${way}`);
  if (tokens.length) parts.push(tokens.join(" / "));
  if (metadata.cost_usd) parts.push(cost(metadata.cost_usd));
  else if (answer && tokens.length && !metadata.cost_source) parts.push("unpriced");
  else if (answer && metadata.cost_source === UNKNOWN_USAGE) parts.push("usage unknown");
  if (metadata.duration_ms) parts.push(duration(metadata.duration_ms));
  return parts;
}

function llm(payload, metadata, answer = false) {
  const parts = llmFigures(metadata, answer);
  let text = firstText(payload, TEXT_KEYS);
  if (text === null) text = requestText(payload.request);
  const calls = toolCallNames(payload.tool_calls);
  if (text !== null) parts.push(quoted(text));
  else if (calls.length) parts.push(`calls ${calls.join(", ")}`);
  else if (answer && payload.response !== undefined && payload.response !== null) {
    parts.push(compactJson(payload.response));
  }
  return parts.join(" · ");
}

function error(payload, metadata) {
  const message = firstText(payload, ERROR_KEYS);
  const kind = payload.error_type ?? payload.type ?? payload.exception;
  let text = message !== null ? message : compactJson(payload);
  if (typeof kind === "string" && kind) text = `${kind}: ${text}`;
  const name = toolName(payload, metadata);
  return name ? `${name}: ${text}` : text;
}

function itemText(content) {
  if (typeof content === "string") return content.split(/\s+/).filter(Boolean).join(" ");
  if (Array.isArray(content)) {
    return content
      .filter((part) => isObject(part) && typeof part.text === "string")
      .map((part) => part.text.split(/\s+/).filter(Boolean).join(" "))
      .join(" ");
  }
  return compactJson(content);
}

function item(entry) {
  if (!isObject(entry)) return compactJson(entry);
  if (entry.type === "function_call")
    return `→ ${entry.name ?? "tool"}(${itemText(entry.arguments)})`;
  if (entry.type === "function_call_output") return `← ${itemText(entry.output)}`;
  if (typeof entry.role === "string") return `${entry.role}: ${itemText(entry.content)}`;
  return compactJson(entry);
}

function agent(payload, metadata) {
  let text = typeof payload.agent === "string" ? payload.agent : compactJson(payload);
  if (Array.isArray(payload.tools) && payload.tools.length) {
    text += ` (tools: ${payload.tools.map(String).join(", ")})`;
  }
  if (metadata.duration_ms) text += ` in ${duration(metadata.duration_ms)}`;
  return text;
}

function custom(payload, metadata) {
  if (Object.keys(payload).length || !isObject(metadata.extra)) return compactJson(payload);
  return compactJson(metadata.extra);
}

const SUMMARIES = {
  user_message: userMessage,
  plan_created: plan,
  tool_called: toolCalled,
  tool_result: toolResult,
  llm_request: (payload, metadata) => llm(payload, metadata),
  llm_response: (payload, metadata) => llm(payload, metadata, true),
  state_updated: (payload) => compactJson(payload),
  error,
  "conversation.items": (payload) =>
    Array.isArray(payload.items)
      ? payload.items.map(item).join(" | ") || "no items"
      : compactJson(payload),
  "conversation.pop": (payload) => `removed ${item(payload.item)}`,
  "conversation.clear": () => "cleared the conversation",
  "agent.start": agent,
  "agent.end": agent,
  "agent.handoff": (payload) => `${payload.from_agent ?? "?"} → ${payload.to_agent ?? "?"}`,
};

/** One line about `event`, safe to show as text. */
export function summarize(event) {
  const payload = event.payload;
  const metadata = event.metadata || {};
  let text;
  if (!isObject(payload)) text = compactJson(payload);
  else text = (SUMMARIES[event.type] || custom)(payload, metadata);
  return printable(shorten(text, WIDTH));
}
