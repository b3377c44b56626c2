// Incidents: alerts grouped into incidents, most severe first; an incident's
// detail with its synthesis, hosts, ATT&CK techniques, indicators and the
// timeline of its alerts, and its STIX 2.1 bundle to download.
import { getJson, request } from "../lib/api.js";
import { append, download, field, h, select } from "../lib/dom.js";
import { formatNumber, lang, t, tOr } from "../lib/i18n.js";
import { bannerMarking } from "../lib/shell.js";
import { busy, loading, note, portionMark, table, timeTag } from "../lib/widgets.js";

const SEVERITIES = ["", "low", "medium", "high", "critical"];
const SINCE = ["", "24h", "7d", "30d"];

function severity(value) {
  return h("span", { class: ["severity", `severity-${value}`] }, tOr("severity", value));
}

function techniqueList(ids) {
  return ids.length ? h("span", { class: "techniques" }, ids.map((id) => h("code", { class: "technique" }, id))) : "—";
}

export const incidentsPage = {
  name: "incidents",
  title: "incidents.title",
  async render({ main, query, navigate, signal }) {
    const floor = SEVERITIES.includes(query.get("min_severity")) ? query.get("min_severity") : "";
    const since = SINCE.includes(query.get("since")) ? query.get("since") : "";
    const floors = select("min_severity", SEVERITIES.map((s) => [s, s ? tOr("severity", s) : t("incidents.any")]), floor);
    const periods = select("since", SINCE.map((s) => [s, t(`brief.since.${s || "all"}`)]), since);
    const form = h(
      "form",
      { class: "filters" },
      field(t("incidents.min_severity"), floors),
      field(t("incidents.since"), periods),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, t("incidents.filter"))),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      if (floors.value) params.set("min_severity", floors.value);
      if (periods.value) params.set("since", periods.value);
      navigate(`/incidents${params.toString() ? `?${params}` : ""}`);
    });
    append(main, h("h1", null, t("incidents.title")), form);
    const waiting = loading();
    append(main, waiting);
    const answer = await getJson("/api/incidents", { query: { min_severity: floor, since }, signal });
    waiting.remove();
    const banner = bannerMarking();
    append(main, 
      answer.incidents.length
        ? table(
            t("incidents.count", { count: formatNumber(answer.incidents.length) }),
            [
              [t("common.marking"), (i) => portionMark(i.marking, banner)],
              [t("incidents.severity"), (i) => severity(i.severity)],
              [t("incidents.incident"), (i) => h("a", { href: `/incidents/${encodeURIComponent(i.id)}` }, i.title)],
              [t("incidents.alerts"), (i) => formatNumber(i.alert_count)],
              [t("incidents.hosts"), (i) => i.hosts.join(", ")],
              [t("incidents.techniques"), (i) => techniqueList(i.techniques)],
              [t("incidents.first_seen"), (i) => timeTag(i.first_seen)],
              [t("incidents.last_seen"), (i) => timeTag(i.last_seen)],
            ],
            answer.incidents,
            { className: "incidents" },
          )
        : note(t("incidents.none")),
    );
  },
};

export const incidentPage = {
  name: "incidents",
  title: "incidents.detail",
  async render({ main, params, signal }) {
    const waiting = loading();
    append(main, waiting);
    const id = encodeURIComponent(params.id);
    const incident = await getJson(`/api/incidents/${id}`, { query: { lang: lang() }, signal });
    waiting.remove();
    document.title = `${incident.title} · guetteur`;
    const banner = bannerMarking();
    const errors = h("div", { class: "errors" });
    const stix = h("button", { type: "button", class: "secondary" }, t("incidents.stix"));
    stix.addEventListener("click", () =>
      busy(stix, errors, async () => {
        const answer = await request("GET", `/api/incidents/${id}`, { query: { format: "stix", lang: lang() }, signal });
        download(await answer.blob(), `incident-${params.id}.stix.json`);
      }),
    );
    const markdown = h("button", { type: "button", class: "secondary" }, t("incidents.markdown"));
    markdown.addEventListener("click", () =>
      busy(markdown, errors, async () => {
        const answer = await request("GET", `/api/incidents/${id}`, { query: { format: "markdown", lang: lang() }, signal, headers: { Accept: "text/markdown" } });
        download(await answer.blob(), `incident-${params.id}.md`);
      }),
    );
    const facts = [
      [t("common.marking"), portionMark(incident.marking)],
      [t("incidents.severity"), [severity(incident.severity), incident.reasons.length ? ` — ${incident.reasons.join("; ")}` : ""]],
      [t("incidents.alerts"), formatNumber(incident.alert_count)],
      [t("incidents.hosts"), incident.hosts.join(", ")],
      [t("incidents.techniques"), techniqueList(incident.techniques)],
      [t("incidents.tactics"), incident.tactics.length ? incident.tactics.join(" → ") : "—"],
      [t("incidents.first_seen"), timeTag(incident.first_seen)],
      [t("incidents.last_seen"), timeTag(incident.last_seen)],
      [t("incidents.intrusion_sets"), incident.intrusion_sets && incident.intrusion_sets.length ? incident.intrusion_sets.join(", ") : "—"],
    ];
    append(main, 
      h("p", { class: "breadcrumb" }, h("a", { href: "/incidents" }, t("incidents.back"))),
      h("h1", null, incident.title),
      h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", null, term), h("dd", null, value)])),
      h("p", { class: "actions" }, stix, markdown),
      errors,
      h(
        "section",
        { class: "card", "aria-labelledby": "synthesis-heading" },
        h("h2", { id: "synthesis-heading" }, t("incidents.synthesis")),
        h("p", { class: "para" }, portionMark(incident.marking, banner), " ", incident.summary),
        h("p", { class: "answer-meta" }, t(incident.summary_mode === "model" ? "incidents.by_model" : "incidents.by_facts")),
      ),
      incident.signatures.length
        ? table(t("incidents.signatures"), [[t("incidents.signature"), (s) => s.signature], [t("common.count"), (s) => formatNumber(s.count)]], incident.signatures)
        : null,
      incident.indicators.length
        ? table(t("incidents.indicators"), [
            [t("common.marking"), (i) => portionMark(i.marking, banner)],
            [t("incidents.kind"), (i) => i.kind],
            [t("incidents.value"), (i) => h("code", null, i.value)],
            [t("incidents.intrusion_set"), (i) => i.intrusion_set || "—"],
          ], incident.indicators)
        : null,
      h("h2", null, t("incidents.timeline")),
      table(
        null,
        [
          [t("common.marking"), (a) => portionMark(a.marking, banner)],
          [t("incidents.time"), (a) => timeTag(a.time)],
          [t("incidents.severity"), (a) => severity(a.severity)],
          [t("incidents.signature"), (a) => a.signature],
          [t("incidents.host"), (a) => a.host || "—"],
          [t("incidents.flow"), (a) => [a.src || "?", " → ", a.dst || "?"]],
          [t("incidents.techniques"), (a) => techniqueList(a.techniques)],
        ],
        [...incident.alerts].sort((a, b) => a.time.localeCompare(b.time)),
        { className: "timeline" },
      ),
    );
  },
};
