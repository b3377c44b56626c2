// APP-6 / MIL-STD-2525C symbols: milsymbol draws each item's SIDC on a
// canvas, and the canvas becomes a data: URL for a Leaflet icon. (The page's
// CSP forbids inline styles, which milsymbol's SVG strings carry; images from
// data: URLs are allowed.) Icons are cached by SIDC and size: ten thousand
// tracks share a few dozen symbols.
//
// Tracks carry their SIDC (cop/symbols.py, from the CoT type). Events from
// reports carry none, so one is derived from what the report says:
//   - a SALUTE report names what was seen: a unit, equipment, an aircraft, a
//     vessel; guetteur does not assess whose it is, so the identity is
//     unknown (yellow) and the symbol is that unit, equipment, air or sea
//     track; a SALUTE naming none of these is an unknown ground installation;
//   - an event found in prose (an actor named near a place) is an action
//     point, a control measure rather than a claim about a force.
import L from "./leaflet.js";
import ms from "milsymbol";

const SIDC_LENGTH = 15;
const FALLBACK = "SUGPI----------"; // unknown ground installation
const ACTION_POINT = "GUGPGPP---****X";
const BY_PARTICIPANT = [
  ["unit", "SUGPU----------"],
  ["equipment", "SUGPE----------"],
  ["aircraft", "SUAP-----------"],
  ["vessel", "SUSP-----------"],
];

/** The SIDC to draw an event with: its own if it has one, else one from its kind. */
export function eventSidc(properties) {
  const own = properties.sidc || (properties.detail && properties.detail.sidc);
  if (typeof own === "string" && own.length === SIDC_LENGTH) return own;
  if (properties.kind === "sentence") return ACTION_POINT;
  const types = new Set((properties.who || []).map((p) => p.type));
  for (const [type, sidc] of BY_PARTICIPANT) {
    if (types.has(type)) return sidc;
  }
  return FALLBACK;
}

/** The affiliation a SIDC's standard identity stands for (for legends and tests). */
export function affiliation(sidc) {
  const identity = (sidc || "")[1];
  if ("FAD".includes(identity) && identity) return "friend";
  if ("HSJK".includes(identity) && identity) return "hostile";
  if ("N".includes(identity) && identity) return "neutral";
  return "unknown";
}

const cache = new Map();

/** A Leaflet icon for `sidc` at `size` (stale: drawn paler) on `layer`, cached. */
export function symbolIcon(sidc, { size = 24, stale = false, layer = "events" } = {}) {
  const key = `${sidc}|${size}|${stale ? 1 : 0}|${layer}`;
  let icon = cache.get(key);
  if (icon) return icon;
  let symbol = new ms.Symbol(sidc || FALLBACK, { size, standard: "APP6", fillOpacity: stale ? 0.35 : 1 });
  if (!symbol.isValid()) symbol = new ms.Symbol(FALLBACK, { size, fillOpacity: stale ? 0.35 : 1 });
  const canvas = symbol.asCanvas(window.devicePixelRatio || 1);
  const { width, height } = symbol.getSize();
  const anchor = symbol.getAnchor();
  icon = L.icon({
    iconUrl: canvas.toDataURL(),
    iconSize: [width, height],
    iconAnchor: [anchor.x, anchor.y],
    popupAnchor: [0, -anchor.y],
    className: `map-symbol layer-${layer} affiliation-${affiliation(sidc)}${stale ? " stale" : ""}`,
  });
  cache.set(key, icon);
  return icon;
}
