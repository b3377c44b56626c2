// Administration. Everyone manages their own API tokens here; a security
// officer also manages users (clearances, roles, one-time passwords,
// certificates), sources' default markings, remarking and withdrawal of
// documents, and sees spills, lockouts and the audit chain's state. The
// server checks every role: this page only hides what would be refused.
import { deleteJson, getJson, postJson, putJson } from "../lib/api.js";
import { append, field, h, replace, select } from "../lib/dom.js";
import { formatNumber, t, tOr } from "../lib/i18n.js";
import { bannerMarking } from "../lib/shell.js";
import { busy, note, portionMark, table, timeTag } from "../lib/widgets.js";

const ROLES = ["reader", "analyst", "security_officer"];
const LEVELS = ["NATO UNCLASSIFIED", "NATO RESTRICTED", "NATO CONFIDENTIAL", "NATO SECRET", "COSMIC TOP SECRET", "DIFFUSION RESTREINTE", "CONFIDENTIEL DÉFENSE", "SECRET", "TRÈS SECRET"];
const EXPIRIES = ["12h", "7d", "30d", "90d", "365d"];

/** A secret shown once: selected, to copy, with a warning. */
function secretBox(label, secret) {
  const input = h("input", { value: secret, readonly: true, class: "secret", "aria-label": label, spellcheck: "false" });
  setTimeout(() => {
    input.focus();
    input.select();
  }, 0);
  return h("div", { class: "secret-box", role: "alert" }, h("p", null, h("strong", null, label)), input, h("p", { class: "hint" }, t("admin.shown_once")));
}

function section(id, title, ...content) {
  return h("section", { id, class: "admin-section card", "aria-labelledby": `${id}-heading` }, h("h2", { id: `${id}-heading`, tabindex: "-1" }, title), ...content);
}

function form(onSubmit, button, ...fields) {
  const element = h("form", { class: "admin-form" }, h("div", { class: "form-grid" }, ...fields), h("div", { class: "actions" }, button));
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit();
  });
  return element;
}

function levelInput(name, value) {
  const id = `levels-${name}`;
  return [
    h("input", { name, list: id, required: true, value: value || "", autocomplete: "off" }),
    h("datalist", { id }, LEVELS.map((level) => h("option", { value: level }))),
  ];
}

function tokensSection(session, signal) {
  const officer = session.user.role === "security_officer";
  const listing = h("div");
  const errors = h("div", { class: "errors" });
  const shown = h("div");
  const refresh = async () => {
    const answer = await getJson("/api/tokens", { signal });
    replace(
      listing,
      answer.tokens.length
        ? table(null, [
            [t("admin.token_id"), (tok) => h("code", null, tok.id)],
            [t("admin.user"), (tok) => tok.user],
            [t("admin.scope"), (tok) => tOr("scope", tok.scope)],
            [t("admin.state"), (tok) => tOr("token_state", tok.state)],
            [t("admin.created"), (tok) => timeTag(tok.created_at)],
            [t("admin.expires"), (tok) => timeTag(tok.expires_at)],
            [t("admin.last_used"), (tok) => (tok.last_used ? timeTag(tok.last_used) : t("watch.never"))],
            [t("admin.actions"), (tok) => {
              if (tok.state !== "active") return "";
              const revoke = h("button", { type: "button", class: "danger small", "aria-label": t("admin.revoke_token", { id: tok.id }) }, t("admin.revoke"));
              revoke.addEventListener("click", () => busy(revoke, errors, async () => {
                await deleteJson(`/api/tokens/${encodeURIComponent(tok.id)}`, { signal });
                await refresh();
              }));
              return revoke;
            }],
          ], answer.tokens)
        : note(t("admin.no_tokens")),
    );
  };
  const user = h("input", { name: "user", value: session.user.name, required: true, readonly: !officer });
  const expires = select("expires", EXPIRIES.map((e) => [e, t(`admin.expiry.${e}`)]), "30d");
  const scope = select("scope", [["read", tOr("scope", "read")], ["write", tOr("scope", "write")]], "read");
  const create = h("button", { type: "submit", class: "primary" }, t("admin.create_token"));
  const creating = form(
    () => busy(create, errors, async () => {
      const answer = await postJson("/api/tokens", { user: user.value.trim(), expires: expires.value, scope: scope.value }, { signal });
      replace(shown, secretBox(t("admin.token_secret", { user: answer.token.user }), answer.secret));
      await refresh();
    }),
    create,
    field(t("admin.user"), user),
    field(t("admin.expires_in"), expires),
    field(t("admin.scope"), scope, t("admin.scope_hint")),
  );
  return { element: section("tokens", t("admin.tokens"), h("p", { class: "lead" }, t("admin.tokens_lead")), listing, errors, shown, creating), refresh };
}

function usersSection(signal) {
  const listing = h("div");
  const errors = h("div", { class: "errors" });
  const shown = h("div");
  const name = h("input", { name: "name", required: true, maxlength: "64", autocapitalize: "none" });
  const [clearance, levels] = levelInput("clearance");
  const nationality = h("input", { name: "nationality", required: true, minlength: "3", maxlength: "3", autocapitalize: "characters" });
  const caveats = h("input", { name: "caveats" });
  const role = select("role", ROLES.map((r) => [r, tOr("role", r)]), "analyst");
  const save = h("button", { type: "submit", class: "primary" }, t("admin.save_user"));
  const fields = () => ({
    clearance: clearance.value.trim(),
    nationality: nationality.value.trim().toUpperCase(),
    caveats: caveats.value.split(",").map((c) => c.trim()).filter(Boolean),
    role: role.value,
  });
  let known = new Set();
  const refresh = async () => {
    const answer = await getJson("/api/admin/users", { signal });
    known = new Set(answer.users.map((u) => u.name));
    replace(
      listing,
      table(null, [
        [t("admin.user"), (u) => u.name],
        [t("admin.role"), (u) => tOr("role", u.role)],
        [t("shell.clearance"), (u) => tOr("level", u.clearance)],
        [t("shell.nationality"), (u) => u.nationality],
        [t("admin.caveats"), (u) => u.caveats.join(", ") || "—"],
        [t("admin.actions"), (u) => {
          const edit = h("button", { type: "button", class: "secondary small", "aria-label": t("admin.edit_user", { name: u.name }) }, t("admin.edit"));
          edit.addEventListener("click", () => {
            name.value = u.name;
            clearance.value = u.clearance.replace("_", " ");
            nationality.value = u.nationality;
            caveats.value = u.caveats.join(", ");
            role.value = u.role;
            clearance.focus();
          });
          const password = h("button", { type: "button", class: "secondary small", "aria-label": t("admin.password_for", { name: u.name }) }, t("admin.one_time"));
          password.addEventListener("click", () => busy(password, errors, async () => {
            const answer = await postJson(`/api/admin/users/${encodeURIComponent(u.name)}/password`, {}, { signal });
            replace(shown, secretBox(t("admin.password_of", { name: answer.user }), answer.password));
          }));
          return h("span", { class: "inline" }, edit, password);
        }],
      ], answer.users),
    );
  };
  const editing = form(
    () => busy(save, errors, async () => {
      const who = name.value.trim();
      if (known.has(who)) await putJson(`/api/admin/users/${encodeURIComponent(who)}`, fields(), { signal });
      else await postJson("/api/admin/users", { name: who, ...fields() }, { signal });
      replace(shown, note(t("admin.user_saved", { name: who })));
      await refresh();
    }),
    save,
    field(t("admin.user"), name, t("admin.user_hint")),
    h("div", { class: "field" }, h("label", { for: "admin-clearance" }, t("shell.clearance")), clearance, levels),
    field(t("shell.nationality"), nationality, t("admin.nationality_hint")),
    field(t("admin.caveats"), caveats, t("admin.caveats_hint")),
    field(t("admin.role"), role),
  );
  clearance.id = "admin-clearance";
  return { element: section("users", t("admin.users"), listing, errors, shown, h("h3", null, t("admin.add_or_change")), editing), refresh };
}

function certificatesSection(signal) {
  const errors = h("div", { class: "errors" });
  const shown = h("div");
  const subject = h("input", { name: "subject", required: true, maxlength: "1000", spellcheck: "false" });
  const user = h("input", { name: "user", required: true, maxlength: "64" });
  const map = h("button", { type: "submit", class: "primary" }, t("admin.map_certificate"));
  return section(
    "certificates",
    t("admin.certificates"),
    errors,
    shown,
    form(
      () => busy(map, errors, async () => {
        const answer = await postJson("/api/admin/certificates", { subject: subject.value.trim(), user: user.value.trim() }, { signal });
        replace(shown, note(t("admin.certificate_mapped", { subject: answer.subject, user: answer.user })));
      }),
      map,
      field(t("admin.subject"), subject, t("admin.subject_hint")),
      field(t("admin.user"), user),
    ),
  );
}

function sourcesSection(signal) {
  const errors = h("div", { class: "errors" });
  const shown = h("div");
  const source = h("input", { name: "source", required: true, maxlength: "200" });
  const [marking, levels] = levelInput("source-marking");
  const save = h("button", { type: "submit", class: "primary" }, t("admin.set_default"));
  marking.id = "admin-source-marking";
  return section(
    "sources",
    t("admin.sources"),
    h("p", { class: "lead" }, t("admin.sources_lead")),
    errors,
    shown,
    form(
      () => busy(save, errors, async () => {
        const answer = await putJson(`/api/admin/sources/${encodeURIComponent(source.value.trim())}`, { marking: marking.value.trim() }, { signal });
        replace(shown, note(t("admin.default_set", { source: answer.source, marking: answer.default_marking })));
      }),
      save,
      field(t("common.source"), source),
      h("div", { class: "field" }, h("label", { for: marking.id }, t("common.marking")), marking, levels, h("span", { class: "hint" }, t("admin.marking_hint"))),
    ),
  );
}

function documentsSection(signal, docId) {
  const errors = h("div", { class: "errors" });
  const shown = h("div");
  const remarkId = h("input", { name: "doc", required: true, value: docId || "", spellcheck: "false" });
  const [marking, levels] = levelInput("remark-marking");
  marking.id = "admin-remark-marking";
  const reason = h("input", { name: "reason", required: true, maxlength: "2000" });
  const remark = h("button", { type: "submit", class: "primary" }, t("admin.remark"));
  const withdrawId = h("input", { name: "doc", required: true, value: docId || "", spellcheck: "false" });
  const withdrawReason = h("input", { name: "reason", required: true, maxlength: "2000" });
  const confirm = h("input", { type: "checkbox", name: "confirm", required: true });
  const withdraw = h("button", { type: "submit", class: "danger" }, t("admin.withdraw"));
  return section(
    "documents",
    t("admin.documents"),
    errors,
    shown,
    h("h3", null, t("admin.remark_title")),
    h("p", { class: "lead" }, t("admin.remark_lead")),
    form(
      () => busy(remark, errors, async () => {
        const answer = await postJson(`/api/admin/documents/${encodeURIComponent(remarkId.value.trim())}/remark`, { marking: marking.value.trim(), reason: reason.value.trim() }, { signal });
        replace(shown, note(t("admin.remarked", { id: answer.id, marking: answer.marking })));
      }),
      remark,
      field(t("document.id"), remarkId),
      h("div", { class: "field" }, h("label", { for: marking.id }, t("admin.new_marking")), marking, levels),
      field(t("admin.reason"), reason),
    ),
    h("h3", null, t("admin.withdraw_title")),
    h("p", { class: "lead" }, t("admin.withdraw_lead")),
    form(
      () => busy(withdraw, errors, async () => {
        const answer = await postJson(`/api/admin/documents/${encodeURIComponent(withdrawId.value.trim())}/withdraw`, { reason: withdrawReason.value.trim() }, { signal });
        confirm.checked = false;
        replace(shown, note(t("admin.withdrawn", { id: answer.withdrawn })));
      }),
      withdraw,
      field(t("document.id"), withdrawId),
      field(t("admin.reason"), withdrawReason),
      h("div", { class: "field field-check" }, h("label", null, confirm, " ", t("admin.withdraw_confirm"))),
    ),
  );
}

async function spillsSection(signal) {
  const answer = await getJson("/api/admin/spills", { signal });
  const banner = bannerMarking();
  return section(
    "spills",
    t("admin.spills"),
    h("p", { class: "lead" }, t("admin.spills_lead")),
    answer.spills.length
      ? table(null, [
          [t("admin.when"), (s) => timeTag(s.at)],
          [t("admin.actor"), (s) => s.actor],
          [t("admin.written"), (s) => [portionMark(s.marking, banner), " ", h("a", { href: `/documents/${encodeURIComponent(s.doc_id)}` }, s.doc_id)]],
          [t("admin.held"), (s) => s.held.map((held, index) => [index ? ", " : "", portionMark(held.marking, banner), " ", h("a", { href: `/documents/${encodeURIComponent(held.doc_id)}` }, held.doc_id)])],
          [t("document.origin"), (s) => h("code", null, s.origin || "")],
        ], answer.spills)
      : note(t("admin.no_spills")),
  );
}

async function lockoutsSection(signal) {
  const answer = await getJson("/api/admin/lockouts", { signal });
  return section(
    "lockouts",
    t("admin.lockouts"),
    answer.lockouts.length
      ? table(null, [
          [t("admin.who"), (l) => l.who],
          [t("admin.failures"), (l) => formatNumber(l.failures)],
          [t("admin.until"), (l) => timeTag(l.until)],
        ], answer.lockouts)
      : note(t("admin.no_lockouts")),
  );
}

function auditSection(signal) {
  const errors = h("div", { class: "errors" });
  const shown = h("div", { role: "status" });
  const verify = h("button", { type: "button", class: "primary" }, t("admin.verify"));
  verify.addEventListener("click", () => busy(verify, errors, async () => {
    const answer = await getJson("/api/admin/audit/verify", { signal });
    replace(shown, h("p", { class: "ok" }, t("admin.audit_intact", { rows: formatNumber(answer.rows) }), " ", h("code", { class: "hash" }, answer.head)));
  }));
  return section("audit", t("admin.audit"), h("p", { class: "lead" }, t("admin.audit_lead")), h("p", { class: "actions" }, verify), errors, shown);
}

export default {
  name: "admin",
  title: "admin.title",
  async render(context) {
    const { main, session, query, signal, hash } = context;
    const officer = session.user.role === "security_officer";
    const tokens = tokensSection(session, signal);
    const contents = officer
      ? [["users", "admin.users"], ["tokens", "admin.tokens"], ["certificates", "admin.certificates"], ["sources", "admin.sources"], ["documents", "admin.documents"], ["spills", "admin.spills"], ["lockouts", "admin.lockouts"], ["audit", "admin.audit"]]
      : [];
    append(main, 
      h("h1", null, t(officer ? "admin.title" : "admin.account")),
      h("p", null, h("a", { href: "/password" }, t("admin.change_password"))),
      officer ? null : note(t("admin.not_officer")),
      contents.length
        ? h("nav", { class: "toc", "aria-label": t("admin.contents") }, h("ul", null, contents.map(([id, key]) => h("li", null, h("a", { href: `#${id}` }, t(key))))))
        : null,
    );
    if (!officer) {
      append(main, tokens.element);
      await tokens.refresh();
      return;
    }
    const users = usersSection(signal);
    const [spills, lockouts] = await Promise.all([spillsSection(signal), lockoutsSection(signal), users.refresh(), tokens.refresh()]);
    append(main, users.element, tokens.element, certificatesSection(signal), sourcesSection(signal), documentsSection(signal, query.get("doc")), spills, lockouts, auditSection(signal));
    if (hash) {
      const target = document.getElementById(`${hash.slice(1)}-heading`);
      if (target) context.focusTarget = target;
    }
  },
};
