// Coordinates as staff read them: MGRS (mgrs package) and decimal degrees.
import { forward } from "mgrs";

/** Longitude brought into [-180, 180) (Leaflet reports it unwrapped past the antimeridian). */
export function wrapLongitude(lon) {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

/** "35V NF 69051 81882" at 1 m, or null where MGRS has no grid (beyond 84°N and 80°S). */
export function toMgrs(lat, lon) {
  if (!(lat >= -80 && lat <= 84)) return null;
  try {
    const grid = forward([wrapLongitude(lon), lat], 5);
    const match = /^(\d{1,2}[C-X])([A-Z]{2})(\d{5})(\d{5})$/.exec(grid);
    return match ? `${match[1]} ${match[2]} ${match[3]} ${match[4]}` : grid;
  } catch {
    return null;
  }
}

/** "59.37583° N, 28.20000° E" */
export function toDecimalDegrees(lat, lon) {
  const lng = wrapLongitude(lon);
  const ns = lat >= 0 ? "N" : "S";
  const ew = lng >= 0 ? "E" : "W";
  return `${Math.abs(lat).toFixed(5)}° ${ns}, ${Math.abs(lng).toFixed(5)}° ${ew}`;
}

/** A bbox [W, S, E, N] from Leaflet bounds, clamped to the world, rounded to 5 decimals (about 1 m). */
export function boundsToBbox(bounds) {
  const round = (x) => Math.round(x * 1e5) / 1e5;
  return [
    round(Math.max(-180, bounds.getWest())),
    round(Math.max(-90, bounds.getSouth())),
    round(Math.min(180, bounds.getEast())),
    round(Math.min(90, bounds.getNorth())),
  ];
}
