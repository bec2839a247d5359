// Shared helpers for the pages: the JSON API, the signed-in session, small DOM helpers.
// Plain ES module, no build step, no network beyond this server.

const SESSION_KEY = "streamcart.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(auth) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({ token: auth.access_token, user: auth.user }));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

export async function api(method, path, body, headers = {}) {
  const s = session();
  const res = await fetch(path, {
    method,
    headers: {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(s ? { authorization: `Bearer ${s.token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (res.status === 204) return null;
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = json.error || {};
    if (res.status === 401 && s) clearSession();
    throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText);
  }
  return json;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/// Creates an element; text is always set as text, never parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export function money(minor, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

export function lastPathSegment() {
  return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
}

export function say(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
}

/// Wires the sign-in form (#signin-form) and the signed-in bar (#signed-in).
/// Calls onChange(session) now and on every sign-in / sign-out.
export function mountSignIn(onChange) {
  const form = $("#signin-form");
  const bar = $("#signed-in");
  const status = $("#signin-status");
  const render = () => {
    const s = session();
    form.hidden = !!s;
    bar.hidden = !s;
    if (s) $("#signed-in-name").textContent = s.user.display_name || s.user.email;
    onChange(s);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const mode = e.submitter && e.submitter.value === "register" ? "register" : "login";
    const body = { email: data.get("email"), password: data.get("password") };
    if (mode === "register") body.display_name = String(data.get("email")).split("@")[0];
    try {
      say(status, mode === "register" ? "Creating your account…" : "Signing in…");
      saveSession(await api("POST", `/api/v1/auth/${mode}`, body));
      say(status, "");
      render();
    } catch (err) {
      say(status, err.message, "error");
    }
  });
  $("#signout").addEventListener("click", async () => {
    try {
      await api("POST", "/api/v1/auth/logout");
    } catch {
      /* the session is gone either way */
    }
    clearSession();
    render();
  });
  render();
}
