// Leaflet, and the plugins that extend the global `L` it defines.
// leaflet.markercluster is a script that adds L.MarkerClusterGroup to the
// global L: it must run after Leaflet, which this module's order ensures.
import L from "leaflet";

globalThis.L = L;

export default L;
