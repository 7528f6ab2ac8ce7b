// Talking to the server: every refused request becomes an ApiError carrying the server's own sentence
// (its `detail`), so the page can show why an action was refused instead of swallowing it.

export const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status; // 0: the server did not answer (the same action may be retried)
  }
}

// A request id is made once per action and reused if that action is retried, so the server stores it once.
export function requestId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "r" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

// An image id may hold sub-folders ('/') and any character a file name can ('#', '?', '%' ...).
export function encodePath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}

export function say(text, error = false) {
  const box = $("message");
  box.textContent = text;
  box.className = error ? "error" : "";
}

// The server's reason, readable: FastAPI's validation errors are a list of {loc, msg}.
function detailOf(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  if (detail) return JSON.stringify(detail);
  return response.statusText || "refused";
}

// The person this page was opened as (from /api/me). The cookie is the browser's, shared by its tabs: a
// personal link opened in another tab signs them all in as that person, so every request says whom this
// page works for, and the server refuses it when the cookie is now someone else's (never stored as theirs).
let signedInAs = null;

export function signIn(name) {
  signedInAs = name;
}

export async function request(path, options = {}) {
  let response;
  const headers = new Headers(options.headers || {});
  if (signedInAs !== null) headers.set("X-Signed-In-As", encodeURIComponent(signedInAs));
  try {
    response = await fetch(path, { credentials: "same-origin", ...options, headers });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `the server did not answer (${err.message}); try again`);
  }
  if (!response.ok) {
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const body = isJson ? await response.json().catch(() => null) : null;
    throw new ApiError(response.status, detailOf(body, response));
  }
  return response;
}

export async function api(path, options = {}) {
  const response = await request(path, options);
  return (response.headers.get("content-type") || "").includes("json") ? response.json() : null;
}

export function post(path, payload) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
}

// "could not save the label (409): the image has its 2 annotations already"
export function refusal(what, err) {
  const code = err instanceof ApiError && err.status ? ` (${err.status})` : "";
  return `could not ${what}${code}: ${err.message}`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}
