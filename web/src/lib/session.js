// Who is logged in, as the server says (GET /api/me), and the memory pages
// keep between visits (the last answer, the last brief): dropped at logout.
import { getJson, postJson, setCsrfToken } from "./api.js";

export const session = { user: null, method: null, mustChange: false, loaded: false };
export const memory = new Map();

export async function loadSession() {
  try {
    const me = await getJson("/api/me");
    session.user = me.user;
    session.method = me.method;
    session.mustChange = Boolean(me.must_change_password);
  } catch (error) {
    if (error.status !== 401) throw error;
    forget();
  }
  session.loaded = true;
  return session;
}

function opened(answer) {
  setCsrfToken(answer.csrf_token);
  session.user = answer.user;
  session.method = "session";
  session.mustChange = Boolean(answer.must_change_password);
  session.loaded = true;
  return session;
}

export async function logIn(username, password) {
  return opened(await postJson("/api/login", { username, password }));
}

export async function logInWithCertificate() {
  return opened(await postJson("/api/login/certificate", {}));
}

/** Change the password; the server ends every session, so log in again with the new one. */
export async function changePassword(old, replacement) {
  const name = session.user.name;
  await postJson("/api/password", { old, new: replacement });
  forget();
  return logIn(name, replacement);
}

export async function logOut() {
  try {
    await postJson("/api/logout", {});
  } finally {
    forget();
  }
}

export function forget() {
  setCsrfToken(null);
  session.user = null;
  session.method = null;
  session.mustChange = false;
  memory.clear();
}
