// A document's text on the page: paragraphs, each with its portion mark, and
// spans over it — entities linked to their pages, the passage a citation
// quotes, a mention, the words a search matched — all built as DOM nodes.
import { h } from "./dom.js";
import { portionMark } from "./widgets.js";

/** The [start, end) of each paragraph of `text` (blank lines separate them). */
export function paragraphs(text) {
  const found = [];
  const separator = /\n[ \t]*(?:\n[ \t]*)+/g;
  let start = 0;
  for (const match of text.matchAll(separator)) {
    if (text.slice(start, match.index).trim()) found.push([start, match.index]);
    start = match.index + match[0].length;
  }
  if (text.slice(start).trim()) found.push([start, text.length]);
  return found;
}

/** Non-overlapping links: the earliest first, the longest of those starting together. */
function chooseLinks(links) {
  const sorted = [...links].sort((a, b) => a.start - b.start || b.end - a.end);
  const chosen = [];
  let reached = -1;
  for (const link of sorted) {
    if (link.start >= reached) {
      chosen.push(link);
      reached = link.end;
    }
  }
  return chosen;
}

/**
 * The text as paragraphs. `links`: [{start, end, href, title, className}]
 * (UTF-16 offsets), `marks`: [{start, end, className, id}] — marks may
 * overlap links and each other. Returns the element and the first node of
 * each mark id, to scroll to.
 */
export function renderPassages(text, { marking, banner, links = [], marks = [], lang }) {
  const chosen = chooseLinks(links);
  const firstOf = new Map();
  const body = h("div", { class: "passages", lang: lang || null });
  for (const [pStart, pEnd] of paragraphs(text)) {
    const edges = new Set([pStart, pEnd]);
    for (const span of [...chosen, ...marks]) {
      if (span.end > pStart && span.start < pEnd) {
        edges.add(Math.max(span.start, pStart));
        edges.add(Math.min(span.end, pEnd));
      }
    }
    const cuts = [...edges].sort((a, b) => a - b);
    const paragraph = h("p", { class: "para" }, portionMark(marking, banner), " ");
    const content = h("span", { class: "para-text" });
    paragraph.append(content);
    let openLink = null;
    let openElement = null;
    for (let index = 0; index + 1 < cuts.length; index += 1) {
      const [start, end] = [cuts[index], cuts[index + 1]];
      if (start === end) continue;
      const link = chosen.find((span) => span.start <= start && span.end >= end) || null;
      let node = document.createTextNode(text.slice(start, end));
      for (const mark of marks) {
        if (mark.start <= start && mark.end >= end) {
          const wrapper = h("mark", { class: mark.className }, node);
          if (mark.id && !firstOf.has(mark.id)) {
            wrapper.id = mark.id;
            wrapper.tabIndex = -1;
            firstOf.set(mark.id, wrapper);
          }
          node = wrapper;
        }
      }
      if (link !== openLink) {
        openLink = link;
        openElement = link
          ? h("a", { href: link.href, class: link.className, title: link.title || null })
          : null;
        if (openElement) content.append(openElement);
      }
      (openElement || content).append(node);
    }
    body.append(paragraph);
  }
  return { element: body, firstOf };
}

/**
 * Whole-word matches of `names` in `text`: [{start, end, name}]. A name
 * matches as written or in capitals ("Tapa", "TAPA"), not in any case: "Est"
 * (the place) is not "EST" (the country code).
 */
export function findNames(text, names) {
  const forms = new Map();
  for (const name of names) {
    if (!name || name.trim().length < 3) continue;
    for (const form of [name, name.toLocaleUpperCase()]) if (!forms.has(form)) forms.set(form, name);
  }
  if (!forms.size) return [];
  const escaped = [...forms.keys()]
    .sort((a, b) => b.length - a.length)
    .map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})(?![\\p{L}\\p{N}])`, "gu");
  const found = [];
  for (const match of text.matchAll(pattern)) {
    found.push({ start: match.index, end: match.index + match[0].length, name: forms.get(match[0]) });
  }
  return found;
}

// Words that carry no search signal, as search/hybrid.py's STOPWORDS: not highlighted.
const STOPWORDS = new Set(
  `a an and are as at be by for from has have in is it its of on or that the this to was were
  what when where which who with will would about any all
  au aux avec ce ces dans de des du elle en est et il ils la le les leur lui ma mais me
  mes ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes un une vos
  votre vous y a été quel quelle quels quelles est-ce`.split(/\s+/),
);

export function fold(word) {
  return word.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "");
}

/** The meaningful words of a query, folded (accents, case), as the search reads them. */
export function queryTerms(query) {
  const terms = [];
  for (const [word] of String(query || "").matchAll(/[\p{L}\p{N}_][\p{L}\p{N}_-]*/gu)) {
    const folded = fold(word);
    if ((folded.length > 1 || /^\d+$/.test(folded)) && !STOPWORDS.has(folded) && !terms.includes(folded)) {
      terms.push(folded);
    }
  }
  return terms;
}

/** Where the words of `text` match `terms` (same word, or same first five letters). */
export function termMatches(text, terms) {
  if (!terms.length) return [];
  const prefixes = new Set(terms.filter((term) => term.length >= 5).map((term) => term.slice(0, 5)));
  const found = [];
  for (const match of text.matchAll(/[\p{L}\p{N}_][\p{L}\p{N}_-]*/gu)) {
    const folded = fold(match[0]);
    if (terms.includes(folded) || (folded.length >= 5 && prefixes.has(folded.slice(0, 5)))) {
      found.push({ start: match.index, end: match.index + match[0].length });
    }
  }
  return found;
}

/** `text` with the words matching `terms` in <mark>. */
export function highlighted(text, terms) {
  const pieces = [];
  let at = 0;
  for (const { start, end } of termMatches(text, terms)) {
    if (start > at) pieces.push(text.slice(at, start));
    pieces.push(h("mark", { class: "term" }, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) pieces.push(text.slice(at));
  return pieces;
}
