// Brief: an INTSUM, SITREP or daily brief written from what the reader may
// read (or, with "releasable to", from what may also be given to those
// nations), with the options of `guetteur brief`. The brief is shown on the
// page, every sentence marked and cited, and can be downloaded as PDF.
import { awaitJob, filenameOf, request } from "../lib/api.js";
import { append, download, field, h, replace, select } from "../lib/dom.js";
import { formatNumber, lang, t, tOr } from "../lib/i18n.js";
import { mapExport } from "../lib/mapmodule.js";
import { memory } from "../lib/session.js";
import { bannerMarking, raiseBanner } from "../lib/shell.js";
import { busy, documentHref, gradeTag, note, portionMark, problemBox, timeTag } from "../lib/widgets.js";

const KINDS = ["intsum", "sitrep", "daily"];
const SINCE = ["", "24h", "48h", "7d", "30d"];

function renderBrief(brief) {
  raiseBanner(brief.marking);
  const banner = bannerMarking();
  const numbers = new Map(brief.sources.map((source) => [source.doc_id, source]));
  return h(
    "article",
    { class: "brief", "aria-labelledby": "brief-heading" },
    h("h2", { id: "brief-heading", lang: brief.language, tabindex: "-1" }, brief.title, " ", portionMark(brief.marking)),
    h(
      "p",
      { class: "answer-meta" },
      t("brief.period"),
      " ",
      brief.since ? timeTag(brief.since) : t("brief.since_start"),
      " → ",
      timeTag(brief.until),
      " · ",
      t("brief.read", { count: formatNumber(brief.documents_read) }),
      brief.releasable_to && brief.releasable_to.length ? [" · ", t("brief.releasable", { nations: brief.releasable_to.join(", ") })] : null,
      brief.topic ? [" · ", t("brief.topic_is", { topic: brief.topic })] : null,
      " · ",
      t(brief.mode === "model" ? "ask.mode_model" : "ask.mode_extractive", { model: brief.model || "" }),
    ),
    brief.sections.map((section) =>
      h(
        "section",
        { class: "brief-section" },
        h("h3", { lang: brief.language }, section.heading),
        section.sentences.length
          ? section.sentences.map((sentence) =>
              h(
                "p",
                { class: "para sentence" },
                portionMark(sentence.marking, banner),
                " ",
                h("span", { lang: sentence.language || brief.language }, sentence.text),
                sentence.grades && sentence.grades.length ? h("span", { class: "grades" }, ` [${sentence.grades.join(", ")}]`) : null,
                " ",
                sentence.citations.map((docId) => {
                  const source = numbers.get(docId);
                  return h("a", { class: "citation", href: documentHref(docId), title: source ? source.title : docId }, `[${source ? source.n : "?"}]`);
                }),
                sentence.note ? h("span", { class: "sentence-note" }, ` (${sentence.note})`) : null,
              ),
            )
          : note(t("brief.empty_section")),
      ),
    ),
    brief.sources.length
      ? [
          h("h3", null, t("ask.sources")),
          h(
            "ol",
            { class: "citations" },
            brief.sources.map((source) =>
              h("li", { value: source.n }, portionMark(source.marking, banner), " ", h("a", { href: documentHref(source.doc_id) }, source.title), " ", gradeTag(source.grade)),
            ),
          ),
        ]
      : null,
  );
}

export default {
  name: "brief",
  title: "brief.title",
  async render({ main, signal }) {
    const kind = select("kind", KINDS.map((k) => [k, t(`brief.kind.${k}`)]), "intsum");
    const since = select("since", SINCE.map((s) => [s, t(`brief.since.${s || "all"}`)]), "");
    const from = h("input", { type: "date", name: "from" });
    const topic = h("input", { name: "topic", maxlength: "500" });
    const bbox = h("input", { name: "bbox", maxlength: "100", pattern: "\\s*-?\\d+(\\.\\d+)?\\s*(,\\s*-?\\d+(\\.\\d+)?\\s*){3}", inputmode: "decimal" });
    const language = select("lang", [["fr", tOr("language", "fr")], ["en", tOr("language", "en")]], lang());
    const releasable = h("input", { name: "releasable_to", maxlength: "500", autocapitalize: "characters" });
    const submit = h("button", { type: "submit", class: "primary" }, t("brief.submit"));
    const pdf = h("button", { type: "button", class: "secondary" }, t("brief.pdf"));
    const draw = h("button", { type: "button", class: "secondary" }, t("brief.draw"));
    const drawHost = h("div", { class: "draw-host", hidden: true });
    const errors = h("div", { class: "errors" });
    const result = h("div", { class: "brief-result" });

    const asked = (format) => {
      const body = { kind: kind.value, format, lang: language.value };
      if (from.value) body.since = `${from.value}T00:00:00Z`;
      else if (since.value) body.since = since.value;
      if (topic.value.trim()) body.topic = topic.value.trim();
      if (bbox.value.trim()) body.bbox = bbox.value.replace(/\s+/g, "");
      if (releasable.value.trim()) body.releasable_to = releasable.value.trim().toUpperCase();
      if (format === "pdf") body.background = false;
      return body;
    };

    const form = h(
      "form",
      { class: "card brief-form" },
      h(
        "div",
        { class: "form-grid" },
        field(t("brief.kind"), kind),
        field(t("brief.since"), since),
        field(t("brief.from"), from, t("brief.from_hint")),
        field(t("brief.lang"), language),
        field(t("brief.topic"), topic, t("brief.topic_hint")),
        field(t("brief.releasable_to"), releasable, t("brief.releasable_hint")),
        h("div", { class: "field field-wide" }, h("label", { for: "brief-bbox" }, t("brief.bbox")), h("div", { class: "inline" }, bbox, draw), h("span", { class: "hint", id: "brief-bbox-hint" }, t("brief.bbox_hint"))),
      ),
      drawHost,
      h("div", { class: "actions" }, submit, pdf),
    );
    bbox.id = "brief-bbox";
    bbox.setAttribute("aria-describedby", "brief-bbox-hint");

    const drawArea = await mapExport("drawArea");
    if (!drawArea) {
      draw.disabled = true;
      draw.title = t("map.unavailable");
    }
    draw.addEventListener("click", async () => {
      drawHost.hidden = false;
      const host = h("div", { class: "draw-map" });
      append(drawHost, host);
      try {
        const previous = bbox.value.split(",").map(Number);
        const drawn = await drawArea(host, { lang: lang(), bbox: previous.length === 4 && previous.every(Number.isFinite) ? previous : undefined });
        if (drawn) bbox.value = drawn.map((value) => Number(value).toFixed(4)).join(",");
        drawHost.hidden = true;
        replace(drawHost);
        bbox.focus();
      } catch (error) {
        if (error) replace(drawHost, problemBox(error));
      }
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(submit, errors, async () => {
        const answer = await request("POST", "/api/brief", { json: asked("json"), signal });
        let brief = await answer.json();
        if (answer.status === 202) brief = await awaitJob(brief.job, { signal });
        memory.set("brief", brief);
        replace(result, renderBrief(brief));
        result.querySelector("h2").focus();
      });
    });
    pdf.addEventListener("click", () => {
      if (!form.reportValidity()) return;
      busy(pdf, errors, async () => {
        const answer = await request("POST", "/api/brief", { json: asked("pdf"), signal, headers: { Accept: "application/pdf" } });
        download(await answer.blob(), filenameOf(answer, `${kind.value}.pdf`));
      });
    });

    append(main, h("h1", null, t("brief.title")), h("p", { class: "lead" }, t("brief.lead")), form, errors, result);
    if (memory.has("brief")) append(result, renderBrief(memory.get("brief")));
  },
};
