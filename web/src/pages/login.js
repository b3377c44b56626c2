// Logging in: a password, or the client certificate the browser presented
// (mutual TLS). A one-time password leads to the password change first.
import { append, field, h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { logIn, logInWithCertificate } from "../lib/session.js";
import { busy, note } from "../lib/widgets.js";

/** Where to go after logging in: a path of this application, never another site. */
export function nextPath(query, fallback = "/") {
  const next = query.get("next") || "";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : fallback;
}

export default {
  name: "login",
  title: "login.title",
  public: true,
  async render({ main, query, navigate, session }) {
    const next = nextPath(query);
    if (session.user && session.method === "session") {
      return navigate(session.mustChange ? `/password?next=${encodeURIComponent(next)}` : next, { replace: true });
    }
    const opened = (state) =>
      navigate(state.mustChange ? `/password?next=${encodeURIComponent(next)}` : next, { replace: true });
    const errors = h("div", { class: "errors" });
    const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
    const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
    const submit = h("button", { type: "submit", class: "primary" }, t("login.submit"));
    const form = h(
      "form",
      { class: "card login-form", "aria-labelledby": "login-heading" },
      field(t("login.username"), username),
      field(t("login.password"), password),
      h("div", { class: "actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(submit, errors, async () => opened(await logIn(username.value.trim(), password.value)));
    });
    const certificate = h("button", { type: "button", class: "secondary" }, t("login.certificate"));
    certificate.addEventListener("click", () =>
      busy(certificate, errors, async () => opened(await logInWithCertificate())),
    );
    append(main, 
      h(
        "section",
        { class: "login" },
        h("h1", { id: "login-heading" }, t("login.title")),
        h("p", { class: "lead" }, t("login.lead")),
        session.method === "certificate" && session.user
          ? note(t("login.certificate_seen", { name: session.user.name }))
          : null,
        errors,
        form,
        h("div", { class: "card login-certificate" }, h("p", null, t("login.certificate_help")), certificate),
      ),
    );
    username.focus();
  },
};
