// Drawing a rectangle on a map: press, drag, release. While drawing, the map
// does not pan; Escape cancels. The keyboard's way is "use the visible area".
import L from "./leaflet.js";

/**
 * Let the user draw one rectangle on `map`. Calls onDone(bounds) or onCancel();
 * returns a function that cancels drawing.
 */
export function drawRectangle(map, { onDone, onCancel, className = "drawn-area" }) {
  const container = map.getContainer();
  const wasDragging = map.dragging.enabled();
  const wasBoxZoom = map.boxZoom.enabled();
  map.dragging.disable();
  map.boxZoom.disable();
  container.classList.add("drawing");
  let start = null;
  let rectangle = null;
  let finished = false;

  function restore() {
    map.off("mousedown", down);
    map.off("mousemove", move);
    map.off("mouseup", up);
    document.removeEventListener("keydown", key);
    container.classList.remove("drawing");
    if (wasDragging) map.dragging.enable();
    if (wasBoxZoom) map.boxZoom.enable();
  }
  function down(event) {
    start = event.latlng;
    rectangle = L.rectangle(L.latLngBounds(start, start), { className, interactive: false }).addTo(map);
  }
  function move(event) {
    if (start && rectangle) rectangle.setBounds(L.latLngBounds(start, event.latlng));
  }
  function up(event) {
    if (!start || finished) return;
    const bounds = L.latLngBounds(start, event.latlng);
    start = null;
    if (rectangle) rectangle.remove();
    rectangle = null;
    // A click without a drag is no area.
    const a = map.latLngToContainerPoint(bounds.getSouthWest());
    const b = map.latLngToContainerPoint(bounds.getNorthEast());
    if (Math.abs(a.x - b.x) < 4 || Math.abs(a.y - b.y) < 4) return;
    finished = true;
    restore();
    onDone(bounds);
  }
  function key(event) {
    if (event.key === "Escape") cancel();
  }
  function cancel() {
    if (finished) return;
    finished = true;
    if (rectangle) rectangle.remove();
    restore();
    if (onCancel) onCancel();
  }
  map.on("mousedown", down);
  map.on("mousemove", move);
  map.on("mouseup", up);
  document.addEventListener("keydown", key);
  return cancel;
}
