// The COP's layers: where each one's items come from and how they become
// map items. A layer is a few lines here: an id, a label key, `load(fetchJson)`
// returning {items, marking}, and optionally `stream` (a server-sent events
// path and the event name whose data is one item). Supply routes will be one
// more entry.
//
// A map item: {id, layer, lat, lon, time (ms or null), sidc, marking, stale,
// title, record}, where `record` is the API's own JSON for the popup.
import { highWater } from "./marking.js";
import { eventSidc } from "./symbols.js";

export class LayerUnavailable extends Error {}

function statusOf(error) {
  return error && typeof error.status === "number" ? error.status : null;
}

/**
 * `fetchJson(path, {unshown})`: GET a JSON body through the application's API
 * helpers when given ({getJson} as the application passes them, or a
 * fetch-like function), else window.fetch. A path the server does not have
 * (404, 405) raises LayerUnavailable; other refusals an Error with the
 * server's detail. `unshown` marks a request whose answer is not all shown,
 * so that the application's banner is raised by what is shown instead.
 */
export function makeFetcher(api, signal) {
  return async (path, { unshown = false } = {}) => {
    try {
      if (api && typeof api.getJson === "function") return await api.getJson(path, { unshown, signal });
      const call = typeof api === "function" ? api : (p, o) => fetch(p, o);
      const answer = await call(path, { headers: { Accept: "application/json" }, credentials: "same-origin", signal, guetteurUnshown: unshown });
      if (!(answer && typeof answer.json === "function" && "ok" in answer)) return answer;
      if (!answer.ok) {
        let detail = `HTTP ${answer.status}`;
        try {
          detail = (await answer.json()).detail || detail;
        } catch {
          // keep the status
        }
        throw Object.assign(new Error(detail), { status: answer.status });
      }
      return await answer.json();
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 || status === 405) throw new LayerUnavailable(path);
      throw error;
    }
  };
}

const TITLE_CHARS = 90;

/** A title of at most 90 characters, cut at a word. */
export function shortTitle(text) {
  const clean = String(text || "").replace(/\s+/g, " ").trim();
  if (clean.length <= TITLE_CHARS) return clean;
  const cut = clean.slice(0, TITLE_CHARS);
  return `${cut.slice(0, cut.lastIndexOf(" ") > 40 ? cut.lastIndexOf(" ") : TITLE_CHARS)}…`;
}

function millis(iso) {
  if (!iso) return null;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? null : value;
}

/** An event of GET /api/events?format=geojson as a map item. */
export function eventItem(feature) {
  const [lon, lat] = feature.geometry.coordinates;
  const record = feature.properties;
  return {
    id: `event:${record.id}`,
    layer: "events",
    lat,
    lon,
    time: millis(record.when),
    sidc: eventSidc(record),
    marking: record.marking,
    stale: false,
    title: shortTitle(record.what || record.place || record.kind),
    record,
  };
}

/** A track of GET /api/tracks (or of its stream) as a map item. */
export function trackItem(record, now = Date.now()) {
  const stale = millis(record.stale);
  return {
    id: `track:${record.uid}`,
    layer: "tracks",
    lat: record.lat,
    lon: record.lon,
    time: millis(record.time),
    sidc: record.sidc || "SUGP-----------",
    marking: record.marking,
    stale: stale !== null && stale < now,
    title: record.callsign || record.uid,
    record,
  };
}

/** An incident that states where it happened (lat/lon, or a location object) as a map item. */
export function incidentItem(record) {
  const where = record.location || record;
  if (typeof where.lat !== "number" || typeof where.lon !== "number") return null;
  const severityIdentity = { critical: "H", high: "H", medium: "S", low: "U", informational: "U" };
  const identity = severityIdentity[record.severity] || "U";
  return {
    id: `incident:${record.id}`,
    layer: "incidents",
    lat: where.lat,
    lon: where.lon,
    time: millis(record.last_seen || record.first_seen),
    // Cyberspace (2525C letter SIDCs have no cyber dimension: a ground
    // installation standing for the attacked site), hostile when serious.
    sidc: `S${identity}GPI----------`,
    marking: record.marking,
    stale: false,
    title: shortTitle(record.title || record.id),
    record,
  };
}

export const LAYERS = [
  {
    id: "events",
    label: "map.layer.events",
    async load(fetchJson) {
      const body = await fetchJson("/api/events?format=geojson");
      return { items: (body.features || []).map(eventItem), marking: body.marking };
    },
  },
  {
    id: "tracks",
    label: "map.layer.tracks",
    async load(fetchJson) {
      const body = await fetchJson("/api/tracks");
      const now = Date.now();
      return { items: (body.tracks || []).map((t) => trackItem(t, now)), marking: body.marking };
    },
    stream: { path: "/api/tracks/stream", event: "track", item: (data) => trackItem(data) },
  },
  {
    id: "incidents",
    label: "map.layer.incidents",
    async load(fetchJson) {
      // Most incidents have no place: the answer is not all shown.
      const body = await fetchJson("/api/incidents", { unshown: true });
      const items = (body.incidents || []).map(incidentItem).filter(Boolean);
      // Marked by what is drawn: incidents without a place stay off the map and the banner.
      return { items, marking: items.length ? highWater(items.map((i) => i.marking)) : null };
    },
  },
];

/** Add a layer to the COP (supply routes, later): see LAYERS for the shape. */
export function registerLayer(layer) {
  const at = LAYERS.findIndex((l) => l.id === layer.id);
  if (at >= 0) LAYERS.splice(at, 1, layer);
  else LAYERS.push(layer);
}
