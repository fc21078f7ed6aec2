// The workspace's only door to the server: JSON requests with the session cookie, errors as
// exceptions carrying the HTTP status and body, and the live events WebSocket with reconnects.

/** A non-2xx answer: `.status`, `.body` (parsed JSON or text), `.retryAfter` (s, for 429). */
export class ApiError extends Error {
  constructor(status, body, path, retryAfter) {
    const detail = body && typeof body === "object" ? body.detail || body.error : body;
    super(detail ? `${status}: ${detail}` : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.path = path;
    this.retryAfter = retryAfter;
  }
}

// Set by app.js: what to do when the session is gone (back to the login page).
let onUnauthorized = () => {};

/** Registers the handler run on any 401 except the login request's own. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * A query string from an object, leaving out empty values (`?a=1&b=x`, or "" when nothing).
 * Old servers refuse parameters they do not know, so unset filters must not be sent at all.
 */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v != null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw Object.assign(new ApiError(0, null, path), { message: e.message || "network error" });
  }
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a plain-text error from a proxy, say): keep the text.
  }
  if (res.ok) return data;
  const retry = Number(res.headers.get("retry-after")) || undefined;
  const err = new ApiError(res.status, data, path, retry);
  if (res.status === 401 && path !== "/v1/login") onUnauthorized(err);
  throw err;
}

/**
 * Opens the live events stream (`query`: object or query string) and calls `onEvent` with each
 * parsed event. Reconnects with backoff (1 s doubling to 30 s) until the returned close() is
 * called. `onState("open"|"closed")`, if given, follows the connection.
 */
function events(query, onEvent, onState) {
  const q = typeof query === "string" ? query.replace(/^\?/, "") : qs(query).slice(1);
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/events${q ? `?${q}` : ""}`;
  let ws = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  const connect = () => {
    ws = new WebSocket(url);
    ws.onopen = () => {
      delay = 1000;
      onState?.("open");
    };
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      onEvent(ev);
    };
    ws.onclose = () => {
      onState?.("closed");
      if (closed) return;
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    ws?.close();
  };
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body ?? {}),
  events,
  qs,
};
