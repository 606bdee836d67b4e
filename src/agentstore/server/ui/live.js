// Following a watch: its events as they come, reconnecting when the stream drops, from
// where it was (the path is asked again at each connection).

import { api, ApiError } from "./api.js";

const RETRY_MS = [500, 1000, 2000, 5000];

/**
 * Follow the watch at `path()` until stopped.
 *
 * `onEvent(record)` gets each event; `onStatus("connecting" | "live" | "offline")` how
 * the stream is. Returns a function that stops it.
 */
export function follow(path, { onEvent, onStatus = () => {} }) {
  const controller = new AbortController();
  let attempt = 0;

  async function run() {
    while (!controller.signal.aborted) {
      onStatus("connecting");
      try {
        for await (const message of api.watch(path(), controller.signal)) {
          if (message.event === "ready") {
            attempt = 0;
            onStatus("live");
          } else if (message.event === "message" && message.data) {
            onEvent(JSON.parse(message.data));
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
          onStatus("offline");
          return; // refused (a deleted session, a token taken back): trying again won't help
        }
      }
      if (controller.signal.aborted) return;
      onStatus("offline");
      await new Promise((resolve) =>
        setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]),
      );
      attempt += 1;
    }
  }

  run();
  return () => controller.abort();
}
