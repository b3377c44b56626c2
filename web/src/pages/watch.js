// Watch: the user's standing intelligence requirements, a form to add one, and
// what is new for each since it was last checked (a check moves that mark,
// so the page keeps the last check's hits until the user leaves the session).
import { getJson, postJson } from "../lib/api.js";
import { append, field, h, replace } from "../lib/dom.js";
import { formatNumber, t } from "../lib/i18n.js";
import { memory } from "../lib/session.js";
import { bannerMarking, raiseBanner } from "../lib/shell.js";
import { busy, documentHref, note, portionMark, table, timeTag } from "../lib/widgets.js";

// A cited document's number: its place among the requirement's hits, then digest.
function numberOf(requirement, docId) {
  const order = [...new Set([...requirement.hits.map((hit) => hit.doc_id), ...requirement.digest.flatMap((s) => s.citations)])];
  return order.indexOf(docId) + 1;
}

function renderRun(run) {
  raiseBanner(run.marking);
  const banner = bannerMarking();
  return h(
    "section",
    { class: "watch-run", "aria-labelledby": "watch-run-heading" },
    h("h2", { id: "watch-run-heading", tabindex: "-1" }, t("watch.hits_title")),
    run.requirements.map((requirement) =>
      h(
        "section",
        { class: "card" },
        h("h3", null, requirement.name, " ", requirement.marking ? portionMark(requirement.marking) : null),
        h("p", { class: "requirement-text" }, requirement.requirement),
        h("p", null, t("watch.new_hits", { count: formatNumber(requirement.new_hits) })),
        requirement.hits.length
          ? h(
              "ul",
              { class: "plain hits" },
              requirement.hits.map((hit) =>
                h(
                  "li",
                  null,
                  portionMark(hit.marking, banner),
                  " ",
                  `[${numberOf(requirement, hit.doc_id)}] `,
                  h("a", { href: documentHref(hit.doc_id) }, hit.doc_id),
                  ` · ${t("watch.score")} ${formatNumber(hit.score, 3)}`,
                  hit.reason ? h("span", { class: "hit-reason" }, ` · ${hit.reason}`) : null,
                ),
              ),
            )
          : null,
        requirement.digest.length
          ? [
              h("h4", null, t("watch.digest")),
              requirement.digest.map((sentence) =>
                h(
                  "p",
                  { class: "para sentence" },
                  portionMark(sentence.marking, banner),
                  " ",
                  sentence.text,
                  " ",
                  sentence.citations.map((docId) => h("a", { class: "citation", href: documentHref(docId), title: docId }, `[${numberOf(requirement, docId)}]`)),
                ),
              ),
            ]
          : null,
      ),
    ),
  );
}

export default {
  name: "watch",
  title: "watch.title",
  async render({ main, signal }) {
    const listing = h("div", { class: "watch-list" });
    const errors = h("div", { class: "errors" });
    const result = h("div", { class: "watch-result" });
    const name = h("input", { name: "name", required: true, maxlength: "200" });
    const text = h("textarea", { name: "requirement", rows: "2", required: true, maxlength: "4000" });
    const add = h("button", { type: "submit", class: "primary" }, t("watch.add"));
    const run = h("button", { type: "button", class: "primary" }, t("watch.run"));

    const list = async () => {
      const answer = await getJson("/api/watch", { signal });
      replace(
        listing,
        answer.requirements.length
          ? table(t("watch.requirements"), [
              [t("watch.name"), (r) => r.name],
              [t("watch.requirement"), (r) => r.requirement],
              [t("watch.created"), (r) => timeTag(r.created_at)],
              [t("watch.last_run"), (r) => (r.last_run_at ? timeTag(r.last_run_at) : t("watch.never"))],
            ], answer.requirements)
          : note(t("watch.none")),
      );
    };
    const form = h(
      "form",
      { class: "card watch-form" },
      h("h2", null, t("watch.new")),
      h("div", { class: "form-grid" }, field(t("watch.name"), name), h("div", { class: "field-wide" }, field(t("watch.requirement"), text, t("watch.requirement_hint")))),
      h("div", { class: "actions" }, add),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(add, errors, async () => {
        await postJson("/api/watch", { name: name.value.trim(), requirement: text.value.trim() }, { signal });
        name.value = "";
        text.value = "";
        await list();
      });
    });
    run.addEventListener("click", () =>
      busy(run, errors, async () => {
        const answer = await postJson("/api/watch/run", {}, { signal });
        memory.set("watch", answer);
        replace(result, renderRun(answer));
        result.querySelector("h2").focus();
        await list();
      }),
    );
    append(main, 
      h("h1", null, t("watch.title")),
      h("p", { class: "lead" }, t("watch.lead")),
      listing,
      h("p", { class: "actions" }, run),
      errors,
      result,
      form,
    );
    await list();
    if (memory.has("watch")) append(result, renderRun(memory.get("watch")));
  },
};
