// Markings on the page: the banner of a page is the high-water mark of what it
// shows, and every paragraph, result and popup carries its portion marking.
//
// The server sends canonical markings ("NATO SECRET // REL TO FRA, LUX //
// CRYPTO"); the labels, the groups of nations and the portion abbreviations
// come from the server too (/static/markings.json, built from guetteur's own
// tables), so that the combination here prints exactly what Python's
// high_water_mark prints: highest (level, authority), intersection of REL TO,
// union of caveats.

let vocabulary = null;
let byLabel = new Map();

export const NOTHING_MARKED = "UNCLASSIFIED";

export async function loadMarkings() {
  const answer = await fetch("/static/markings.json");
  if (!answer.ok) throw new Error(`markings vocabulary: HTTP ${answer.status}`);
  vocabulary = await answer.json();
  byLabel = new Map();
  for (const [authority, labels] of Object.entries(vocabulary.labels)) {
    for (const [level, label] of Object.entries(labels)) {
      // SECRET is one label of two authorities' tables: the French national one reads it.
      if (!byLabel.has(label) || authority === "NATIONAL_FRA") byLabel.set(label, { level, authority });
    }
  }
}

function expand(tokens) {
  const nations = new Set();
  for (const token of tokens) {
    const group = vocabulary.groups.find(([name]) => name === token);
    for (const code of group ? group[1] : [token]) nations.add(code);
  }
  return nations;
}

function defaultReleasability(authority) {
  const nations = vocabulary.defaults[authority];
  return nations === null ? null : new Set(nations);
}

function sameSet(a, b) {
  if (a === null || b === null) return a === b;
  if (a.size !== b.size) return false;
  for (const item of a) if (!b.has(item)) return false;
  return true;
}

/** A canonical marking as {level, authority, releasable (Set|null), caveats (Set)}. */
export function parseMarking(text) {
  const [label, ...segments] = String(text).split(" // ");
  const head = byLabel.get(label);
  if (!head) throw new Error(`not a canonical marking: ${text}`);
  let releasable = defaultReleasability(head.authority);
  const caveats = new Set();
  for (const segment of segments) {
    if (segment.startsWith("REL TO ")) {
      const tokens = segment.slice(7).split(", ");
      releasable = tokens.length === 1 && tokens[0] === "NONE" ? new Set() : expand(tokens);
    } else caveats.add(segment);
  }
  return { level: head.level, authority: head.authority, releasable, caveats };
}

function tokens(releasable) {
  const remaining = new Set(releasable);
  const found = [];
  for (const [name, members] of vocabulary.groups) {
    if (members.every((code) => remaining.has(code))) {
      found.push(name);
      for (const code of members) remaining.delete(code);
    }
  }
  return [...found, ...[...remaining].sort()];
}

/** The canonical printed form, as Python's Marking.__str__. */
export function printMarking(marking) {
  const parts = [vocabulary.labels[marking.authority][marking.level]];
  if (!sameSet(marking.releasable, defaultReleasability(marking.authority))) {
    const printed = marking.releasable === null ? [] : tokens(marking.releasable);
    parts.push("REL TO " + (printed.length ? printed.join(", ") : "NONE"));
  }
  parts.push(...[...marking.caveats].sort());
  return parts.join(" // ");
}

const rank = (list, item) => vocabulary[list].indexOf(item);

/** The high-water mark of canonical markings, canonical too; NOTHING_MARKED for none. */
export function highWater(markings) {
  const parsed = markings.filter(Boolean).map(parseMarking);
  if (!parsed.length) return NOTHING_MARKED;
  let top = parsed[0];
  let releasable = null;
  const caveats = new Set();
  for (const marking of parsed) {
    const higher =
      rank("levels", marking.level) - rank("levels", top.level) ||
      rank("authorities", marking.authority) - rank("authorities", top.authority);
    if (higher > 0) top = marking;
    if (marking.releasable !== null) {
      releasable =
        releasable === null
          ? new Set(marking.releasable)
          : new Set([...releasable].filter((code) => marking.releasable.has(code)));
    }
    for (const caveat of marking.caveats) caveats.add(caveat);
  }
  return printMarking({ level: top.level, authority: top.authority, releasable, caveats });
}

/** The portion mark, e.g. "(NR)", with REL TO when it differs from the banner's. */
export function portion(text, bannerText) {
  const marking = parseMarking(text);
  const banner = bannerText ? parseMarking(bannerText) : null;
  let mark = vocabulary.portions[marking.authority][marking.level];
  if (marking.releasable !== null && (banner === null || !sameSet(marking.releasable, banner.releasable))) {
    if (!sameSet(marking.releasable, defaultReleasability(marking.authority))) {
      const printed = tokens(marking.releasable);
      mark += " REL " + (printed.length ? printed.join("/") : "NONE");
    }
  }
  if (marking.caveats.size) mark += " " + [...marking.caveats].sort().join("/");
  return `(${mark})`;
}

/** The language a marking's label is written in: markings are shown verbatim, never translated. */
export function markingLang(text) {
  return parseMarking(text).authority === "NATIONAL_FRA" ? "fr" : "en";
}

/** The CSS class colouring a marking by its level. */
export function levelClass(text) {
  const level = parseMarking(text).level;
  return `level-${level.toLowerCase().replace("_", "-")}`;
}
