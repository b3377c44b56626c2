// L.MarkerClusterGroup, loaded once Leaflet has set its global (leaflet.js).
import L from "./leaflet.js";
import "leaflet.markercluster";

export default L;
