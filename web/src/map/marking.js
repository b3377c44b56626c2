// Markings on the map: the application's own reading of canonical markings
// (web/src/lib/markings.js, whose vocabulary the server builds from
// guetteur's tables), plus what the map adds: the tear-line test of "view as
// partner", and the names of the nations offered.
//
// The tear-line rule is security/markings.py's `may_read` for a clearance
// narrowed with `for_release_to`, as products/brief.py applies it: a release
// to a nation carries only what holds no caveat (partners hold none of ours)
// and is releasable to that nation. A marking without REL TO is releasable
// as its label implies: a NATO label to the NATO nations, a French national
// label to FRA only, plain UNCLASSIFIED to everyone. Anything that cannot be
// read is releasable to nobody (fail closed). tests/web/test_map.py checks
// this against the Python rule on every marking of the scenario.
import { highWater, levelClass, loadMarkings, parseMarking, portion } from "../lib/markings.js";

export { highWater, levelClass, portion };

let loading = null;

/** The markings vocabulary, loaded once (this bundle's copy of the application's module). */
export function markingsReady() {
  if (!loading) {
    loading = loadMarkings().catch((error) => {
      loading = null;
      throw error;
    });
  }
  return loading;
}

function parsed(marking) {
  try {
    return parseMarking(marking);
  } catch {
    return null;
  }
}

/** Whether a tear-line release to `nation` (ISO alpha-3) may carry an item marked `marking`. */
export function releasableTo(marking, nation) {
  const found = parsed(marking);
  if (!found || found.caveats.size) return false;
  return found.releasable === null || found.releasable.has(nation);
}

/** The nations a marking is releasable to (its expanded REL TO), for the partner selector. */
export function nationsNamed(marking) {
  const found = parsed(marking);
  return found && found.releasable ? [...found.releasable] : [];
}

/** The portion mark text, or the canonical marking in brackets if it cannot be read. */
export function portionText(marking) {
  try {
    return portion(marking);
  } catch {
    return `(${marking})`;
  }
}

/** The CSS class of a marking's level ("level-unknown" if it cannot be read). */
export function levelOf(marking) {
  try {
    return levelClass(marking);
  } catch {
    return "level-unknown";
  }
}

// ISO 3166 alpha-3 → alpha-2 for the nations a partner view is usually asked
// for (NATO, EU and Five Eyes members, and close partners), so that the
// selector names them in the page's language with Intl.DisplayNames.
const ALPHA2 = {
  ALB: "AL", AUS: "AU", AUT: "AT", BEL: "BE", BGR: "BG", CAN: "CA", CHE: "CH", CYP: "CY",
  CZE: "CZ", DEU: "DE", DNK: "DK", ESP: "ES", EST: "EE", FIN: "FI", FRA: "FR", GBR: "GB",
  GEO: "GE", GRC: "GR", HRV: "HR", HUN: "HU", IRL: "IE", ISL: "IS", ITA: "IT", JPN: "JP",
  KOR: "KR", LTU: "LT", LUX: "LU", LVA: "LV", MDA: "MD", MKD: "MK", MLT: "MT", MNE: "ME",
  NLD: "NL", NOR: "NO", NZL: "NZ", POL: "PL", PRT: "PT", ROU: "RO", SVK: "SK", SVN: "SI",
  SWE: "SE", TUR: "TR", UKR: "UA", USA: "US",
};

/** The nations offered before any item names others. */
export const PARTNERS = Object.keys(ALPHA2);

const regionNames = new Map();

/** A nation's name in `lang` followed by its code ("Luxembourg (LUX)"), or the code alone. */
export function nationName(code, lang) {
  const alpha2 = ALPHA2[code];
  if (!alpha2 || typeof Intl.DisplayNames !== "function") return code;
  try {
    if (!regionNames.has(lang)) regionNames.set(lang, new Intl.DisplayNames([lang], { type: "region" }));
    const name = regionNames.get(lang).of(alpha2);
    return name && name !== alpha2 ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}
