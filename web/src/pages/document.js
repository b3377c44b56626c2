// One document: its marking, grade and provenance, its text paragraph by
// paragraph with portion marks, the entities it names linked to their pages,
// and the events drawn from it. Opened from a citation or a mention
// (?start=&end=, Python offsets) it shows that passage highlighted; from a
// search (?q=), the words the search matched.
import { getJson } from "../lib/api.js";
import { append, h, utf16Offset } from "../lib/dom.js";
import { t, tOr } from "../lib/i18n.js";
import { findNames, queryTerms, renderPassages, termMatches } from "../lib/passages.js";
import { bannerMarking, raiseBanner } from "../lib/shell.js";
import { documentHref, gradeTag, loading, markingText, note, portionMark, timeTag } from "../lib/widgets.js";

function provenance(doc) {
  const rows = [
    [t("common.marking"), markingText(doc.marking, true)],
    [t("common.grade"), doc.grade ? gradeTag(doc.grade) : t("search.ungraded")],
    [t("common.language"), tOr("language", doc.language)],
    [t("common.source"), doc.source],
    [t("document.origin"), h("code", null, doc.origin || "")],
    [t("document.reported"), doc.reported_at ? timeTag(doc.reported_at) : "—"],
    [t("document.ingested"), timeTag(doc.ingested_at)],
    [t("document.sha256"), h("code", { class: "hash" }, doc.sha256)],
    [t("document.id"), h("code", null, doc.id)],
  ];
  for (const [key, value] of Object.entries(doc.metadata || {})) {
    rows.push([key, typeof value === "string" ? value : JSON.stringify(value)]);
  }
  return h("dl", { class: "facts" }, rows.map(([term, value]) => [h("dt", null, term), h("dd", null, value)]));
}

export default {
  name: "document",
  title: "document.title",
  async render(context) {
    const { main, params, query, signal, session } = context;
    const waiting = loading();
    append(main, waiting);
    const [doc, entities, events] = await Promise.all([
      getJson(`/api/documents/${encodeURIComponent(params.id)}`, { signal }),
      getJson("/api/entities", { signal, unshown: true }),
      getJson("/api/events", { signal, unshown: true }),
    ]);
    waiting.remove();
    document.title = `${doc.title || doc.id} · guetteur`;
    const text = doc.text || "";

    // Entities named in the text, found by the names the reader knows them by.
    // The page shows only the document's own words as links: an entity's
    // canonical name and type come from every document naming it (its own
    // marking, often higher), and are shown on the entity's page, under its banner.
    const byName = new Map(entities.entities.map((entity) => [entity.name, entity]));
    const named = findNames(text, entities.entities.map((entity) => entity.name));
    const links = named.map(({ start, end, name }) => ({
      start,
      end,
      href: `/entities/${encodeURIComponent(byName.get(name).id)}`,
      className: "entity",
      words: text.slice(start, end),
    }));
    const marks = [];
    if (query.has("start") && query.has("end")) {
      const start = utf16Offset(text, Number(query.get("start")));
      const end = utf16Offset(text, Number(query.get("end")));
      if (end > start) marks.push({ start, end, className: "cited", id: "passage" });
    }
    const terms = queryTerms(query.get("q"));
    for (const match of termMatches(text, terms)) marks.push({ ...match, className: "term" });

    const { element, firstOf } = renderPassages(text, { marking: doc.marking, banner: bannerMarking(), links, marks, lang: doc.language });
    const cited = query.get("cite");
    const fromHere = events.events.filter((event) => event.doc_id === doc.id);
    for (const event of fromHere) raiseBanner(event.marking);
    const seen = new Map();
    for (const link of links) if (!seen.has(link.words)) seen.set(link.words, link.href);

    append(main, 
      h("h1", { lang: doc.language }, doc.title || doc.id),
      provenance(doc),
      session.user && session.user.role === "security_officer"
        ? h("p", { class: "actions" }, h("a", { href: `/admin?doc=${encodeURIComponent(doc.id)}#documents` }, t("document.manage")))
        : null,
      marks.some((m) => m.id === "passage")
        ? note(cited ? t("document.cited_passage", { n: cited }) : t("document.passage"))
        : null,
      h(
        "div",
        { class: "with-aside reverse" },
        h("article", { class: "document-text", "aria-label": t("document.text") }, element),
        h(
          "aside",
          { class: "document-aside" },
          h("h2", null, t("document.entities")),
          seen.size
            ? h("ul", { class: "plain", lang: doc.language }, [...seen.entries()].map(([words, href]) => h("li", null, h("a", { href }, words))))
            : note(t("document.no_entities")),
          h("h2", null, t("document.events")),
          fromHere.length
            ? h("ul", { class: "plain events" }, fromHere.map((event) =>
                h(
                  "li",
                  null,
                  portionMark(event.marking, doc.marking),
                  " ",
                  h("a", { href: documentHref(doc.id, { start: event.start, end: event.end }) }, event.when ? timeTag(event.when) : t("document.event")),
                  event.place ? ` · ${event.place}` : "",
                  h("span", { class: "event-what", lang: doc.language }, event.what),
                )))
            : note(t("document.no_events")),
        ),
      ),
    );
    // Opened at a passage (a citation, a mention, an event): show it first.
    const target = firstOf.get("passage");
    if (target) context.focusTarget = target;
  },
};
