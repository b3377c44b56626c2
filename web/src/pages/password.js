// Changing one's password: forced after a one-time password, or chosen.
// The server ends every session on a change; the page logs in again with the
// new password, so the user goes on where they were.
import { append, field, h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { changePassword } from "../lib/session.js";
import { busy, note } from "../lib/widgets.js";
import { nextPath } from "./login.js";

export default {
  name: "password",
  title: "password.title",
  async render({ main, query, navigate, session }) {
    const errors = h("div", { class: "errors" });
    const old = h("input", { name: "old", type: "password", autocomplete: "current-password", required: true });
    const fresh = h("input", { name: "new", type: "password", autocomplete: "new-password", required: true, minlength: "12" });
    const again = h("input", { name: "again", type: "password", autocomplete: "new-password", required: true, minlength: "12" });
    const submit = h("button", { type: "submit", class: "primary" }, t("password.submit"));
    const form = h(
      "form",
      { class: "card login-form" },
      field(t(session.mustChange ? "password.one_time" : "password.old"), old),
      field(t("password.new"), fresh, t("password.rules")),
      field(t("password.again"), again),
      h("div", { class: "actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      errors.replaceChildren();
      if (fresh.value !== again.value) {
        append(errors, h("div", { class: "problem", role: "alert" }, h("p", { class: "problem-title" }, t("password.mismatch"))));
        again.focus();
        return;
      }
      busy(submit, errors, async () => {
        await changePassword(old.value, fresh.value);
        navigate(nextPath(query), { replace: true });
      });
    });
    append(main, 
      h(
        "section",
        { class: "login" },
        h("h1", null, t("password.title")),
        session.mustChange ? note(t("password.forced")) : null,
        errors,
        form,
      ),
    );
    old.focus();
  },
};
