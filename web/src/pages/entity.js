// An entity as the reader knows it: its names, where it is mentioned (each
// mention opens the document at that place), what it appears with, and the
// events it takes part in, listed and on a small map.
import { getJson, mapCall } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { formatNumber, lang, t, tOr } from "../lib/i18n.js";
import { mapExport } from "../lib/mapmodule.js";
import { bannerMarking, raiseBanner } from "../lib/shell.js";
import { documentHref, loading, note, portionMark, table, timeTag } from "../lib/widgets.js";

export default {
  name: "entity",
  title: "entity.title",
  async render({ main, params, signal }) {
    const waiting = loading();
    append(main, waiting);
    const [entity, events] = await Promise.all([
      getJson(`/api/entities/${encodeURIComponent(params.id)}`, { signal }),
      getJson("/api/events", { query: { format: "geojson" }, signal, unshown: true }),
    ]);
    waiting.remove();
    document.title = `${entity.name} · guetteur`;
    const features = events.features.filter((feature) => (feature.properties.who || []).some((who) => who.id === entity.id));
    for (const feature of features) raiseBanner(feature.properties.marking);
    const banner = bannerMarking();

    // Mentions grouped by document, in the order the API gives them.
    const byDocument = new Map();
    for (const mention of entity.mentions) {
      if (!byDocument.has(mention.doc_id)) byDocument.set(mention.doc_id, []);
      byDocument.get(mention.doc_id).push(mention);
    }
    const miniMap = h("div", { class: "mini-map", role: "region", "aria-label": t("entity.map") });
    append(main, 
      h("h1", null, entity.name, " ", h("span", { class: "tag" }, tOr("entity_type", entity.type))),
      h(
        "dl",
        { class: "facts" },
        h("dt", null, t("common.marking")),
        h("dd", null, portionMark(entity.marking)),
        h("dt", null, t("entity.aliases")),
        h("dd", null, entity.aliases.length ? entity.aliases.join(" · ") : "—"),
        h("dt", null, t("entity.counts")),
        h("dd", null, t("entity.counts_text", { mentions: formatNumber(entity.mentions.length), documents: formatNumber(byDocument.size) })),
        entity.lat !== null && entity.lat !== undefined
          ? [h("dt", null, t("entity.position")), h("dd", null, `${Number(entity.lat).toFixed(4)}, ${Number(entity.lon).toFixed(4)}`)]
          : null,
      ),
      h(
        "div",
        { class: "columns-2" },
        h(
          "section",
          { "aria-labelledby": "mentions-heading" },
          h("h2", { id: "mentions-heading" }, t("entity.mentions")),
          h(
            "ul",
            { class: "plain mentions" },
            [...byDocument.entries()].map(([docId, mentions]) =>
              h(
                "li",
                null,
                portionMark(mentions[0].marking, banner),
                " ",
                h("a", { href: documentHref(docId) }, docId),
                " — ",
                mentions.map((mention, index) => [
                  index ? ", " : "",
                  h("a", { href: documentHref(docId, { start: mention.start, end: mention.end }), class: "mention" }, t("common.quoted", { text: mention.text })),
                ]),
              ),
            ),
          ),
        ),
        h(
          "section",
          { "aria-labelledby": "cooccurring-heading" },
          h("h2", { id: "cooccurring-heading" }, t("entity.cooccurring")),
          entity.cooccurring.length
            ? h(
                "ul",
                { class: "plain" },
                entity.cooccurring.map((other) =>
                  h("li", null, h("a", { href: `/entities/${encodeURIComponent(other.id)}` }, other.name), " ", h("span", { class: "tag" }, tOr("entity_type", other.type)), ` ${formatNumber(other.documents)}`),
                ),
              )
            : note(t("entity.none")),
        ),
      ),
      h(
        "section",
        { "aria-labelledby": "events-heading" },
        h("h2", { id: "events-heading" }, t("entity.events")),
        features.length ? miniMap : null,
        features.length
          ? table(null, [
              [t("common.marking"), (f) => portionMark(f.properties.marking, banner)],
              [t("entity.when"), (f) => (f.properties.when ? timeTag(f.properties.when) : "—")],
              [t("entity.where"), (f) => f.properties.place || `${f.geometry.coordinates[1].toFixed(3)}, ${f.geometry.coordinates[0].toFixed(3)}`],
              [t("entity.what"), (f) => h("a", { href: documentHref(f.properties.doc_id, { start: f.properties.start, end: f.properties.end }) }, f.properties.what)],
            ], features)
          : note(t("entity.no_events")),
      ),
    );
    if (features.length) {
      const mountMiniMap = await mapExport("mountMiniMap");
      if (mountMiniMap) {
        const mini = mountMiniMap(miniMap, features, { api: mapCall, lang: lang() });
        signal.addEventListener("abort", () => mini && typeof mini.destroy === "function" && mini.destroy(), { once: true });
      }
      else miniMap.replaceWith(note(t("map.unavailable")));
    }
  },
};
