// Every data call goes through /api with the session cookie (HttpOnly: this
// code never sees it) and, for anything that changes state, the CSRF token the
// login answered with.
//
// Every /api answer that carries records names their high-water mark in the
// X-Guetteur-Marking header. `trackMarkings` wraps window.fetch once, so that
// whatever a page fetches — through this module or directly, as the map
// module may — raises that page's banner; answers to a page the user has
// already left are ignored. A page that fetches more than it shows (all
// events, to show those of one document) asks with `unshown: true` and raises
// its banner with the markings of what it does show.

const CSRF_KEY = "guetteur.csrf";
const MARKING_HEADER = "X-Guetteur-Marking";

// Their 401 says something about the credentials given, not a session that ended.
const SESSION_PATHS = ["/api/login", "/api/me", "/api/logout", "/api/password"];

let onMarking = () => {};
let onUnauthenticated = () => {};
let generation = 0;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || "";
  }
}

export function csrfToken() {
  return localStorage.getItem(CSRF_KEY);
}

export function setCsrfToken(token) {
  if (token) localStorage.setItem(CSRF_KEY, token);
  else localStorage.removeItem(CSRF_KEY);
}

/** A new page: answers to requests made before now no longer raise its banner. */
export function newPage() {
  generation += 1;
}

/** Call `marking(canonical)` for each marked /api answer; `unauthenticated()` on a 401. */
export function trackMarkings(handlers) {
  onMarking = handlers.marking;
  onUnauthenticated = handlers.unauthenticated;
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const asked = generation;
    const answer = await original(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.origin === location.origin && url.pathname.startsWith("/api/")) {
      const marking = answer.headers.get(MARKING_HEADER);
      if (marking && asked === generation && !(init && init.guetteurUnshown)) onMarking(marking);
    }
    return answer;
  };
}

async function problem(answer) {
  let detail = "";
  try {
    const body = await answer.json();
    detail = body.detail || body.title || "";
  } catch {
    detail = "";
  }
  return new ApiError(answer.status, typeof detail === "string" ? detail : JSON.stringify(detail));
}

/** A request to the API; the answer as a Response, or ApiError. */
export async function request(method, path, { json, body, query, signal, headers: extra, unshown } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json", ...(extra || {}) };
  if (method !== "GET" && method !== "HEAD") {
    const token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
  }
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  const init = { method, headers, body: payload, signal, credentials: "same-origin", guetteurUnshown: Boolean(unshown) };
  const answer = await fetch(url, init);
  if (!answer.ok) {
    const error = await problem(answer);
    if (answer.status === 401 && !SESSION_PATHS.some((prefix) => path.startsWith(prefix))) onUnauthenticated(error);
    throw error;
  }
  return answer;
}

export async function getJson(path, options) {
  return (await request("GET", path, options)).json();
}

export async function postJson(path, json, options) {
  const answer = await request("POST", path, { ...options, json });
  return answer.status === 204 ? null : answer.json();
}

export async function putJson(path, json, options) {
  return (await request("PUT", path, { ...options, json })).json();
}

export async function deleteJson(path, options) {
  return (await request("DELETE", path, options)).json();
}

/** fetch() for the map module: same origin, the CSRF token on writes; the Response as is. */
export function mapCall(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const method = (options.method || "GET").toUpperCase();
  const token = csrfToken();
  if (method !== "GET" && method !== "HEAD" && token) headers.set("X-CSRF-Token", token);
  return fetch(path, { ...options, headers, credentials: "same-origin" });
}

/** Follow a job (202 answer) until it is done; its result. */
export async function awaitJob(job, { signal, onProgress } = {}) {
  let state = job;
  while (state.state === "queued" || state.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (signal && signal.aborted) throw new DOMException("aborted", "AbortError");
    state = (await getJson(`/api/jobs/${encodeURIComponent(state.id)}`, { signal })).job;
    if (onProgress) onProgress(state);
  }
  if (state.state !== "done") throw new ApiError(500, state.error || state.state);
  return state.result;
}

/** The file name a Content-Disposition header gives, else `fallback`. */
export function filenameOf(answer, fallback) {
  const header = answer.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(header);
  return match ? match[1] : fallback;
}
