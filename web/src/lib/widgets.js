// Small pieces shared by the pages: portion marks, grades, errors, tables,
// buttons that show they are working.
import { h } from "./dom.js";
import { formatTime, has, t, tOr } from "./i18n.js";
import { levelClass, markingLang, portion } from "./markings.js";

/** The portion mark of a record, coloured by level; the full marking on hover. */
export function portionMark(marking, banner) {
  if (!marking) return null;
  return h(
    "span",
    { class: ["portion", levelClass(marking)], title: marking, "data-marking": marking, lang: markingLang(marking) },
    portion(marking, banner),
  );
}

/** A whole marking as text, verbatim (its label's language), coloured when `coloured`. */
export function markingText(marking, coloured = false) {
  return h("span", { class: coloured ? ["marking-full", levelClass(marking)] : null, lang: markingLang(marking) }, marking);
}

export function gradeTag(grade) {
  if (!grade) return null;
  return h("span", { class: "grade", title: t("grade.title") }, grade);
}

export function languageTag(code) {
  if (!code) return null;
  return h("span", { class: "tag" }, tOr("language", code));
}

export function timeTag(iso) {
  if (!iso) return null;
  return h("time", { datetime: iso }, formatTime(iso));
}

/** An error from the API, in the interface's language; the server's words beside it. */
export function problemBox(error) {
  const status = error && error.status;
  const key = status && `problem.${status}`;
  let text = t("problem.other");
  if (key && has(key)) text = t(key);
  else if (error && error.name === "TypeError") text = t("problem.network");
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", { class: "problem-title" }, text),
    error && error.detail ? h("p", { class: "problem-detail", lang: "en" }, error.detail) : null,
  );
}

export function note(text) {
  return h("p", { class: "note" }, text);
}

export function loading() {
  return h("p", { class: "loading", role: "status" }, t("common.loading"));
}

/** Run `work` with `button` disabled and saying it is busy; errors into `errors`. */
export async function busy(button, errors, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = t("common.working");
  if (errors) errors.replaceChildren();
  try {
    return await work();
  } catch (error) {
    if (error.name === "AbortError") return undefined;
    if (errors) errors.append(problemBox(error));
    else throw error;
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

/** A table: `columns` are [heading, (row) => cell content]. */
export function table(caption, columns, rows, { className } = {}) {
  return h(
    "table",
    { class: ["data", className] },
    caption ? h("caption", null, caption) : null,
    h("thead", null, h("tr", null, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h(
      "tbody",
      null,
      rows.map((row) => h("tr", null, columns.map(([, cell]) => h("td", null, cell(row))))),
    ),
  );
}

/** A link to a document, at a passage when `start`/`end` (code point offsets) are given. */
export function documentHref(id, { start, end, q, cite } = {}) {
  const query = new URLSearchParams();
  if (start !== undefined && end !== undefined) {
    query.set("start", start);
    query.set("end", end);
  }
  if (q) query.set("q", q);
  if (cite) query.set("cite", cite);
  const tail = query.toString();
  return `/documents/${encodeURIComponent(id)}${tail ? `?${tail}` : ""}`;
}
