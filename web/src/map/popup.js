// What a click on a symbol shows: the item's portion marking first, what it
// is, where and when, and the sources it comes from (links to the reports).
// Built as DOM nodes with textContent: a report's words never become markup.
import { levelOf, portionText } from "./marking.js";
import { toDecimalDegrees, toMgrs } from "./coords.js";

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

/** A NATO date-time group: 210340ZNOV26. */
export function dtg(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}Z${MONTHS[d.getUTCMonth()]}${two(d.getUTCFullYear() % 100)}`;
}

/** "21 Nov 2026, 03:40 UTC" in the page's language. */
export function formatTime(ms, lang) {
  const text = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(ms);
  return `${text} UTC`;
}

export function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A portion mark ("(NR REL FRA/LUX)"), coloured by level, the canonical marking in its title. */
export function portionMark(marking) {
  return el("span", {
    className: `portion ${levelOf(marking)}`,
    text: portionText(marking),
    attrs: { "data-marking": marking, title: marking },
  });
}

function row(list, label, value) {
  if (value === undefined || value === null || value === "") return;
  list.append(el("dt", { text: label }), el("dd", { text: value }));
}

function position(item) {
  const grid = toMgrs(item.lat, item.lon);
  return grid ? `${grid} · ${toDecimalDegrees(item.lat, item.lon)}` : toDecimalDegrees(item.lat, item.lon);
}

function documentLink(docId, tr) {
  return el("a", { className: "citation-link", text: tr("map.popup.open_report"), attrs: { href: `/documents/${encodeURIComponent(docId)}` } });
}

const SALUTE_PARTS = ["size", "activity", "location", "unit", "time", "equipment"];

// Kind, time and place first, then the report it comes from, then the rest
// of what the report says (a popup scrolls: the source stays in view).
function eventBody(item, tr, lang, body) {
  const record = item.record;
  const facts = el("dl", { className: "map-popup-facts" });
  const kindKey = `map.kind.${record.kind}`;
  const kind = tr(kindKey);
  row(facts, tr("map.popup.kind"), kind === kindKey ? record.kind : kind);
  row(facts, tr("map.popup.when"), item.time !== null ? `${formatTime(item.time, lang)} (${dtg(item.time)})` : tr("map.popup.when_unknown"));
  row(facts, tr("map.popup.place"), record.place);
  row(facts, tr("map.popup.position"), position(item));
  body.append(facts);
  const sources = el("section", { className: "map-popup-citations", attrs: { "aria-label": tr("map.popup.sources") } });
  sources.append(el("h4", { text: tr("map.popup.sources") }));
  const citation = el("div", { className: "citation" }, [
    portionMark(record.marking),
    record.doc_id ? documentLink(record.doc_id, tr) : null,
    el("blockquote", { text: record.what }),
  ]);
  sources.append(citation);
  body.append(sources);
  const more = el("dl", { className: "map-popup-facts" });
  row(more, tr("map.popup.who"), (record.who || []).map((w) => w.name).join(", "));
  for (const part of SALUTE_PARTS) {
    const value = record.detail && record.detail[part];
    if (value && part !== "activity") row(more, tr(`map.salute.${part}`), value);
  }
  if (more.childElementCount) body.append(more);
}

function trackBody(item, tr, lang, body, fetchJson) {
  const record = item.record;
  const facts = el("dl", { className: "map-popup-facts" });
  row(facts, tr("map.popup.kind"), tr("map.kind.track"));
  row(facts, tr("map.popup.callsign"), record.callsign);
  row(facts, tr("map.popup.uid"), record.uid);
  row(facts, tr("map.popup.type"), record.sidc ? `${record.type} · ${record.sidc}` : record.type);
  row(facts, tr("map.popup.when"), item.time !== null ? `${formatTime(item.time, lang)} (${dtg(item.time)})` : null);
  row(facts, tr("map.popup.position"), position(item));
  if (typeof record.course === "number") row(facts, tr("map.popup.course"), `${Math.round(record.course)}°`);
  if (typeof record.speed === "number") row(facts, tr("map.popup.speed"), `${record.speed.toFixed(1)} m/s`);
  if (item.stale) row(facts, tr("map.popup.stale"), tr("map.popup.stale_since") + " " + formatTime(Date.parse(record.stale), lang));
  body.append(facts);
  const sources = el("section", { className: "map-popup-citations", attrs: { "aria-label": tr("map.popup.sources") } });
  sources.append(el("h4", { text: tr("map.popup.sources") }));
  const list = el("ul", { className: "citation-list" });
  const status = el("p", { className: "map-popup-status", text: tr("map.popup.loading") });
  sources.append(status, list);
  body.append(sources);
  fetchJson(`/api/tracks/${encodeURIComponent(record.uid)}`)
    .then((detail) => {
      status.remove();
      const seen = new Set();
      for (const p of [...(detail.positions || [])].reverse()) {
        const key = `${p.source}|${p.doc_id}|${p.marking}`;
        if (seen.has(key)) continue;
        seen.add(key);
        list.append(el("li", { className: "citation" }, [
          portionMark(p.marking),
          el("span", { className: "citation-source", text: ` ${p.source || tr("map.popup.feed")} · ${formatTime(Date.parse(p.time), lang)}` }),
          p.doc_id ? documentLink(p.doc_id, tr) : null,
        ]));
        if (seen.size >= 5) break;
      }
      for (const e of detail.history || []) {
        list.append(el("li", { className: "citation" }, [
          portionMark(e.marking),
          el("blockquote", { text: e.what }),
          e.doc_id ? documentLink(e.doc_id, tr) : null,
        ]));
      }
    })
    .catch(() => {
      status.textContent = tr("map.popup.sources_unavailable");
    });
}

function incidentBody(item, tr, lang, body) {
  const record = item.record;
  const facts = el("dl", { className: "map-popup-facts" });
  row(facts, tr("map.popup.kind"), tr("map.kind.incident"));
  const severityKey = `map.severity.${record.severity}`;
  const severity = tr(severityKey);
  row(facts, tr("map.popup.severity"), severity === severityKey ? record.severity : severity);
  row(facts, tr("map.popup.when"), item.time !== null ? formatTime(item.time, lang) : null);
  row(facts, tr("map.popup.position"), position(item));
  body.append(facts);
  body.append(el("a", { className: "citation-link", text: tr("map.popup.open_incident"), attrs: { href: `/incidents/${encodeURIComponent(record.id)}` } }));
}

/** The popup of a map item. */
export function popupContent(item, { tr, lang, fetchJson }) {
  const body = el("div", { className: "map-popup", attrs: { "data-item": item.id, "data-marking": item.marking } });
  body.append(portionMark(item.marking));
  body.append(el("h3", { className: "map-popup-title", text: item.title }));
  if (item.layer === "events") eventBody(item, tr, lang, body);
  else if (item.layer === "tracks") trackBody(item, tr, lang, body, fetchJson);
  else if (item.layer === "incidents") incidentBody(item, tr, lang, body);
  return body;
}
