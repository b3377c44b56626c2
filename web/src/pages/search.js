// Search: one box, French or English, results with their portion marks, grades
// and snippets (the query's words highlighted), and facets to narrow them.
// The facets count the results shown, computed here from the answer.
import { getJson } from "../lib/api.js";
import { append, field, h, replace, select } from "../lib/dom.js";
import { formatNumber, t, tOr } from "../lib/i18n.js";
import { highlighted, queryTerms } from "../lib/passages.js";
import { documentHref, gradeTag, languageTag, loading, markingText, note, portionMark, table } from "../lib/widgets.js";

const LIMITS = ["10", "25", "50", "100"];

// Each facet: its name, how a result gives its value, how a value is shown.
const FACETS = [
  ["marking", (r) => r.marking, (v) => markingText(v)],
  ["source", (r) => r.source, (v) => v],
  ["language", (r) => r.language, (v) => tOr("language", v)],
  ["grade", (r) => r.grade || "", (v) => v || t("search.ungraded")],
  // The day a document reports on, when the search answer gives it.
  ["time", (r) => (r.reported_at ? String(r.reported_at).slice(0, 10) : null), (v) => v],
];

function facetValues(results, get) {
  const counts = new Map();
  for (const result of results) {
    const value = get(result);
    if (value === null || value === undefined) continue;
    counts.set(value, (counts.get(value) || 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}

function resultItem(result, query, terms, banner) {
  return h(
    "li",
    { class: "result" },
    h(
      "h2",
      { class: "result-title" },
      portionMark(result.marking, banner),
      " ",
      h("a", { href: documentHref(result.id, { q: query }), lang: result.language || null }, result.title || result.id),
    ),
    h(
      "p",
      { class: "result-meta" },
      gradeTag(result.grade),
      h("span", { class: "tag" }, result.source),
      languageTag(result.language),
    ),
    h("p", { class: "snippet", lang: result.language || null }, highlighted(result.snippet || "", terms)),
  );
}

async function overview(main, signal) {
  const stats = await getJson("/api/stats", { signal });
  const rows = (object) => Object.entries(object).sort((a, b) => b[1] - a[1]);
  append(main, 
    h(
      "section",
      { class: "overview" },
      h("h2", null, t("search.overview", { documents: formatNumber(stats.documents), chunks: formatNumber(stats.chunks) })),
      h(
        "div",
        { class: "columns-3" },
        table(t("search.facet.marking"), [[t("common.marking"), ([m]) => portionMark(m)], [t("common.marking_full"), ([m]) => markingText(m)], [t("common.count"), ([, n]) => formatNumber(n)]], rows(stats.by_marking)),
        table(t("search.facet.language"), [[t("common.language"), ([code]) => tOr("language", code)], [t("common.count"), ([, n]) => formatNumber(n)]], rows(stats.by_language)),
        table(t("search.facet.source"), [[t("common.source"), ([name]) => name], [t("common.count"), ([, n]) => formatNumber(n)]], rows(stats.by_source)),
      ),
    ),
  );
}

export default {
  name: "search",
  title: "search.title",
  async render({ main, query, navigate, signal }) {
    const asked = query.get("q") || "";
    const limit = LIMITS.includes(query.get("limit")) ? query.get("limit") : "25";
    const box = h("input", { type: "search", name: "q", value: asked, required: true, maxlength: "2000", autocomplete: "off" });
    const limits = select("limit", LIMITS.map((n) => [n, n]), limit);
    const form = h(
      "form",
      { role: "search", class: "search-form" },
      field(t("search.box"), box, t("search.hint")),
      field(t("search.limit"), limits),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("search.submit"))),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = box.value.trim();
      if (q) navigate(`/?q=${encodeURIComponent(q)}&limit=${limits.value}`);
    });
    append(main, h("h1", null, t("search.title")), form);
    if (!asked) {
      box.focus();
      return overview(main, signal);
    }
    const waiting = loading();
    append(main, waiting);
    const answer = await getJson("/api/search", { query: { q: asked, limit }, signal });
    waiting.remove();
    const results = answer.results;
    const terms = queryTerms(asked);
    const chosen = new Map(FACETS.map(([name]) => [name, new Set()]));
    const status = h("p", { class: "result-count", role: "status" });
    const list = h("ol", { class: "results" });
    const facets = h("aside", { class: "facets", "aria-label": t("search.facets") });

    const draw = () => {
      const shown = results.filter((result) =>
        FACETS.every(([name, get]) => chosen.get(name).size === 0 || chosen.get(name).has(get(result))),
      );
      status.textContent =
        shown.length === results.length
          ? t("search.count", { count: results.length })
          : t("search.count_filtered", { shown: shown.length, count: results.length });
      replace(list, shown.map((result) => resultItem(result, asked, terms, null)));
    };

    append(facets, h("h2", { class: "facets-title" }, t("search.facets")), note(t("search.facets_note")));
    for (const [name, get, show] of FACETS) {
      const values = facetValues(results, get);
      if (!values.length) continue;
      const group = h("fieldset", { class: "facet" }, h("legend", null, t(`search.facet.${name}`)));
      for (const [value, count] of values) {
        const box = h("input", { type: "checkbox", value });
        box.addEventListener("change", () => {
          if (box.checked) chosen.get(name).add(value);
          else chosen.get(name).delete(value);
          draw();
        });
        append(group, h("label", { class: "facet-value" }, box, " ", name === "marking" ? portionMark(value) : null, " ", show(value), h("span", { class: "count" }, ` ${count}`)));
      }
      append(facets, group);
    }
    if (!results.length) {
      append(main, note(t("search.none")));
      return;
    }
    draw();
    append(main, h("div", { class: "with-aside" }, facets, h("section", { class: "results-section", "aria-label": t("search.results") }, status, list)));
  },
};
