// Ask: a question in French or English, answered from what the reader may
// read, every sentence with its portion mark and its citations. A citation
// opens the document at the quoted passage.
import { postJson } from "../lib/api.js";
import { append, field, h, select } from "../lib/dom.js";
import { t, tOr } from "../lib/i18n.js";
import { memory } from "../lib/session.js";
import { bannerMarking, raiseBanner } from "../lib/shell.js";
import { busy, documentHref, gradeTag, note, portionMark } from "../lib/widgets.js";

function citationLink(citation) {
  return h(
    "a",
    {
      class: "citation",
      href: documentHref(citation.doc_id, { start: citation.start, end: citation.end, cite: citation.n }),
      title: citation.title,
      "aria-label": t("ask.citation_label", { n: citation.n, title: citation.title }),
    },
    `[${citation.n}]`,
  );
}

export function renderAnswer(answer) {
  raiseBanner(answer.marking);
  const banner = bannerMarking();
  const byNumber = new Map(answer.citations.map((citation) => [citation.n, citation]));
  return h(
    "section",
    { class: "answer", "aria-labelledby": "answer-heading" },
    h("h2", { id: "answer-heading" }, t("ask.answer"), " ", portionMark(answer.marking)),
    h(
      "p",
      { class: "answer-meta" },
      t(answer.mode === "model" ? "ask.mode_model" : "ask.mode_extractive", { model: answer.model || "" }),
      " · ",
      t("ask.language", { language: tOr("language", answer.language) }),
    ),
    answer.supported ? null : note(t("ask.unsupported")),
    answer.sentences.map((sentence) =>
      h(
        "p",
        { class: "para sentence" },
        portionMark(sentence.marking, banner),
        " ",
        h("span", null, sentence.text),
        " ",
        sentence.citations.map((n) => (byNumber.has(n) ? citationLink(byNumber.get(n)) : `[${n}]`)),
        sentence.note ? h("span", { class: "sentence-note" }, ` (${sentence.note})`) : null,
      ),
    ),
    answer.dropped && answer.dropped.length ? note(t("ask.dropped", { count: answer.dropped.length })) : null,
    answer.citations.length
      ? [
          h("h3", null, t("ask.sources")),
          h(
            "ol",
            { class: "citations" },
            answer.citations.map((citation) =>
              h(
                "li",
                { value: citation.n },
                portionMark(citation.marking, banner),
                " ",
                h("a", { href: documentHref(citation.doc_id, { start: citation.start, end: citation.end, cite: citation.n }) }, citation.title),
                " ",
                gradeTag(citation.grade),
                h("blockquote", { class: "quote" }, citation.quote),
              ),
            ),
          ),
        ]
      : null,
  );
}

export default {
  name: "ask",
  title: "ask.title",
  async render({ main, query, navigate, signal }) {
    const asked = query.get("q") || "";
    const answerLang = ["fr", "en"].includes(query.get("lang")) ? query.get("lang") : "";
    const question = h("textarea", { name: "question", rows: "3", required: true, maxlength: "4000" });
    question.value = asked;
    const languages = select("lang", [["", t("ask.lang_auto")], ["fr", tOr("language", "fr")], ["en", tOr("language", "en")]], answerLang);
    const submit = h("button", { type: "submit", class: "primary" }, t("ask.submit"));
    const errors = h("div", { class: "errors" });
    const result = h("div", { class: "ask-result" });
    const form = h(
      "form",
      { class: "card ask-form" },
      field(t("ask.question"), question, t("ask.hint")),
      field(t("ask.lang"), languages),
      h("div", { class: "actions" }, submit),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (!text) return;
      const params = new URLSearchParams({ q: text });
      if (languages.value) params.set("lang", languages.value);
      navigate(`/ask?${params}`);
    });
    append(main, h("h1", null, t("ask.title")), form, errors, result);
    if (!asked) {
      question.focus();
      return;
    }
    const key = `ask:${answerLang}:${asked}`;
    let answer = memory.get(key);
    if (!answer) {
      answer = await busy(submit, errors, () =>
        postJson("/api/ask", { question: asked, lang: answerLang || null }, { signal }),
      );
      if (!answer) return;
      memory.set(key, answer);
    }
    append(result, renderAnswer(answer));
  },
};
