// The offline basemap: Natural Earth coastlines and borders (world-atlas,
// 1:50m), drawn as vectors on a canvas. The TopoJSON is a static file of the
// build (web/build.mjs copies it beside this module), read from guetteur's
// own server: nothing comes from outside. Where the workspace holds a raster
// MBTiles file (GET /api/tiles), its tiles are laid over it for detail,
// served by guetteur too.
import L from "./leaflet.js";
import { feature, mesh } from "topojson-client";

const COUNTRIES = new URL("./vendor/world-atlas/countries-50m.json", import.meta.url);

let shapes = null;

function loadShapes() {
  if (!shapes) {
    shapes = fetch(COUNTRIES, { credentials: "same-origin" })
      .then((answer) => {
        if (!answer.ok) throw new Error(`basemap: HTTP ${answer.status}`);
        return answer.json();
      })
      .then((countries) => ({
        land: feature(countries, countries.objects.countries),
        borders: mesh(countries, countries.objects.countries, (a, b) => a !== b),
      }))
      .catch((error) => {
        shapes = null;
        throw error;
      });
  }
  return shapes;
}

/** Add the vector basemap to `map`; resolves once it is drawn. */
export async function addBasemap(map) {
  const { land, borders } = await loadShapes();
  const renderer = L.canvas({ padding: 0.5 });
  L.layerGroup([
    L.geoJSON(land, {
      renderer,
      interactive: false,
      style: { stroke: false, fill: true, fillColor: "#e8e4d8", fillOpacity: 1 },
    }),
    L.geoJSON(borders, {
      renderer,
      interactive: false,
      style: { color: "#8a8577", weight: 1, opacity: 1, fill: false },
    }),
  ]).addTo(map);
}

// Leaflet can draw raster tiles only; a vector MBTiles (pbf) is reported, not drawn.
const RASTER_FORMATS = new Set(["png", "jpg", "jpeg", "webp"]);

/**
 * Lay the workspace's MBTiles over the basemap when one is configured.
 * `describe` is the body of GET /api/tiles. Returns the tile layer, or null.
 */
export function addWorkspaceTiles(map, describe) {
  if (!describe || !describe.configured || !RASTER_FORMATS.has(describe.format)) return null;
  const options = {
    minZoom: 0,
    maxZoom: 19,
    minNativeZoom: describe.minzoom ?? 0,
    maxNativeZoom: describe.maxzoom ?? 19,
    attribution: describe.attribution || describe.name || "",
    className: "workspace-tiles",
  };
  if (Array.isArray(describe.bounds) && describe.bounds.length === 4) {
    const [w, s, e, n] = describe.bounds;
    options.bounds = L.latLngBounds([s, w], [n, e]);
  }
  return L.tileLayer("/api/tiles/{z}/{x}/{y}", options).addTo(map);
}
