// The common operational picture (/map), the entity page's small map, and the
// area picker of the brief form.
//
//   mountMap(element, {api, t, lang, onMarking})  the COP: events, tracks (live),
//       incidents; symbols clustered at low zoom; timeline; MGRS readout;
//       popups with portion marking and sources; view as partner; draw an area
//   mountMiniMap(element, features, {t, lang})     given GeoJSON features
//   drawArea(element, {t, lang})                   resolves [W, S, E, N], or null
//
// Everything is drawn from the bundle and the API: the basemap is Natural
// Earth data inside the bundle, symbols are milsymbol canvases, and the only
// requests go to guetteur's own /api. The page's banner is G's: onMarking(m)
// is called with each layer's high-water mark as it arrives.
import L from "./cluster.js";
import "./map.css";
import { addBasemap, addWorkspaceTiles } from "./basemap.js";
import { boundsToBbox, toDecimalDegrees, toMgrs } from "./coords.js";
import { drawRectangle } from "./draw.js";
import { LAYERS, LayerUnavailable, eventItem, makeFetcher, registerLayer } from "./layers.js";
import { PARTNERS, highWater, markingsReady, nationName, nationsNamed, releasableTo } from "./marking.js";
import { el, formatTime, popupContent, portionMark } from "./popup.js";
import { strings } from "./strings.js";
import { symbolIcon } from "./symbols.js";

export { highWater, registerLayer, releasableTo, strings };

const DEFAULT_CENTER = [54, 20];
const DEFAULT_ZOOM = 4;
const SLIDER_STEPS = 1000;
const WINDOWS = [6, 24, 72, 168, 720, null]; // hours; null: everything
const REPLAY_MS = 6000;
const REPLAY_TICK_MS = 100;

/** A translator: this module's strings, then the application's `t` for any other key. */
function translator(t, lang) {
  const own = strings[lang] || strings.en;
  return (key, params) => {
    let text = own[key];
    if (text === undefined && typeof t === "function") text = t(key, params);
    if (typeof text !== "string") text = key;
    for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  };
}

function pageLang(lang) {
  return lang || document.documentElement.lang || "en";
}

function baseMap(container, tr, { zoomControl = true } = {}) {
  const map = L.map(container, {
    center: DEFAULT_CENTER,
    zoom: DEFAULT_ZOOM,
    minZoom: 2,
    maxZoom: 18,
    worldCopyJump: true,
    zoomControl: false,
    attributionControl: false,
  });
  if (zoomControl) {
    L.control.zoom({ zoomInTitle: tr("map.zoom_in"), zoomOutTitle: tr("map.zoom_out") }).addTo(map);
  }
  L.control.attribution({ prefix: false }).addAttribution(tr("map.attribution")).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  map.basemap = addBasemap(map).catch((error) => {
    container.dataset.basemap = "missing";
    console.error(error);
  });
  return map;
}

/** The drawing instructions, over the map (the page around it does not move). */
function drawingHelp(tr) {
  const Help = L.Control.extend({
    onAdd() {
      return el("div", { className: "map-draw-help", text: tr("map.draw.instructions"), attrs: { role: "status" } });
    },
  });
  return new Help({ position: "topright" });
}

function escapeText(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

/**
 * The COP. Options: `api` (the application's {getJson}, or a fetch-like
 * function), `t` and `lang`, `onMarking` (or `raiseMarking`: called with
 * each layer's high-water mark and each live track's marking), `signal`
 * (aborting it unmounts the map). Returns {map, ready, showItem(id), destroy()}.
 */
export function mountMap(element, { api, t, lang, onMarking, raiseMarking, signal } = {}) {
  const fetchJson = makeFetcher(api, signal);
  lang = pageLang(lang);
  const tr = translator(t, lang);
  const raise = onMarking || raiseMarking;
  const mark = (marking) => {
    if (marking && typeof raise === "function") raise(marking);
  };

  // ------------------------------------------------------------------ layout
  const root = el("div", { className: "cop", attrs: { "data-ready": "false" } });
  const toolbar = el("div", { className: "cop-toolbar", attrs: { role: "toolbar", "aria-label": tr("map.toolbar") } });
  const legend = el("fieldset", { className: "cop-layers" }, [el("legend", { text: tr("map.layers") })]);
  const partnerSelect = el("select", { attrs: { id: "cop-partner", name: "partner" } });
  const partnerLabel = el("label", { className: "cop-partner", attrs: { for: "cop-partner" } }, [
    el("span", { text: tr("map.partner.label") }),
  ]);
  const drawButton = el("button", { className: "cop-draw", text: tr("map.draw.button"), attrs: { type: "button", "aria-pressed": "false" } });
  const liveStatus = el("span", { className: "cop-live", attrs: { "data-state": "off" } });
  toolbar.append(legend, partnerLabel, partnerSelect, drawButton, liveStatus);

  const partnerNotice = el("p", { className: "cop-partner-notice", attrs: { role: "status", hidden: "" } });
  const status = el("p", { className: "cop-status", attrs: { role: "status" } });
  const mapBox = el("div", { className: "cop-map", attrs: { role: "region", "aria-label": tr("map.region") } });

  const windowSelect = el("select", { attrs: { id: "cop-window", name: "window" } });
  for (const hours of WINDOWS) {
    windowSelect.append(el("option", { text: hours === null ? tr("map.time.all") : tr("map.time.hours", { n: hours }), attrs: { value: hours === null ? "all" : String(hours) } }));
  }
  windowSelect.value = "all";
  const playButton = el("button", { className: "cop-play", text: tr("map.time.play"), attrs: { type: "button", "aria-pressed": "false" } });
  const slider = el("input", {
    attrs: { type: "range", min: "0", max: String(SLIDER_STEPS), step: "1", value: String(SLIDER_STEPS), id: "cop-time", "aria-label": tr("map.time.slider") },
  });
  const timeLabel = el("output", { className: "cop-time-label", attrs: { for: "cop-time", "aria-live": "polite" } });
  const nowButton = el("button", { className: "cop-now", text: tr("map.time.now_button"), attrs: { type: "button" } });
  const timeline = el("div", { className: "cop-timeline", attrs: { role: "group", "aria-label": tr("map.time.group") } }, [
    el("label", { attrs: { for: "cop-window" }, text: tr("map.time.window") }),
    windowSelect,
    playButton,
    slider,
    timeLabel,
    nowButton,
  ]);
  const coords = el("div", { className: "cop-coords", attrs: { "aria-label": tr("map.coords.label") } });
  const areaPanel = el("aside", { className: "cop-area", attrs: { hidden: "", "aria-label": tr("map.area.title") } });

  root.append(toolbar, partnerNotice, status, el("div", { className: "cop-body" }, [mapBox, areaPanel]), timeline, coords);
  element.replaceChildren(root);

  const map = baseMap(mapBox, tr);
  fetchJson("/api/tiles")
    .then((described) => {
      if (!described.configured) return;
      if (!addWorkspaceTiles(map, described)) {
        status.textContent = tr("map.tiles.vector", { format: described.format || "?" });
      } else if (described.attribution || described.name) {
        map.attributionControl.addAttribution(escapeText(described.attribution || described.name));
      }
    })
    .catch(() => {});

  // ------------------------------------------------------------------- state
  const items = new Map(); // id → item
  const markers = new Map(); // id → L.Marker
  const shown = new Map(); // layer id → Set of item ids in its cluster group
  const groups = new Map(); // layer id → L.MarkerClusterGroup
  const enabled = new Map(); // layer id → boolean
  const available = new Map(); // layer id → true | false | null (loading)
  const counters = new Map(); // layer id → element
  const sources = [];
  const timers = [];
  let partner = "";
  let windowHours = null;
  let live = true;
  let cursor = Date.now();
  let replay = null;

  for (const layer of LAYERS) {
    const group = L.markerClusterGroup({
      chunkedLoading: true,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      maxClusterRadius: (zoom) => (zoom >= 10 ? 30 : 60),
      iconCreateFunction: clusterIcon(layer.id),
    });
    group.addTo(map);
    groups.set(layer.id, group);
    shown.set(layer.id, new Set());
    enabled.set(layer.id, true);
    available.set(layer.id, null);
    const box = el("input", { attrs: { type: "checkbox", id: `cop-layer-${layer.id}`, name: "layer", value: layer.id, checked: "" } });
    box.addEventListener("change", () => {
      enabled.set(layer.id, box.checked);
      refresh();
    });
    const count = el("span", { className: "cop-layer-count", attrs: { "data-layer-count": layer.id } });
    counters.set(layer.id, count);
    legend.append(el("label", { className: `cop-layer cop-layer-${layer.id}`, attrs: { for: `cop-layer-${layer.id}` } }, [box, el("span", { text: tr(layer.label) }), count]));
  }

  function clusterIcon(layerId) {
    return (cluster) => {
      const n = cluster.getChildCount();
      const size = n < 10 ? "small" : n < 100 ? "medium" : "large";
      return L.divIcon({
        html: `<div><span>${n}</span></div>`,
        className: `marker-cluster marker-cluster-${size} cluster-${layerId}`,
        iconSize: L.point(40, 40),
      });
    };
  }

  // ---------------------------------------------------------------- filters
  function timeRange() {
    const end = Date.now();
    if (windowHours !== null) return [end - windowHours * 3600e3, end];
    let start = end - 24 * 3600e3;
    for (const item of items.values()) if (item.time !== null && item.time < start) start = item.time;
    return [start, end];
  }

  function visible(item, start) {
    if (!enabled.get(item.layer)) return false;
    if (partner && !releasableTo(item.marking, partner)) return false;
    if (item.time === null) return true; // undated: no place on the timeline, never hidden by it
    if (item.time < start) return false;
    return live || item.time <= cursor;
  }

  function markerFor(item) {
    let marker = markers.get(item.id);
    if (!marker) {
      marker = L.marker([item.lat, item.lon], {
        icon: symbolIcon(item.sidc, { stale: item.stale, layer: item.layer }),
        title: item.title,
        alt: item.title,
        keyboard: true,
        riseOnHover: true,
      });
      marker.itemId = item.id;
      marker.bindPopup(() => popupContent(items.get(marker.itemId), { tr, lang, fetchJson }), {
        maxWidth: 380,
        maxHeight: 340,
        className: "cop-popup",
      });
      markers.set(item.id, marker);
    }
    return marker;
  }

  // Set when the page leaves the map: work still under way (a basemap still
  // loading, a refresh queued for the next frame) must then not touch the map,
  // whose panes are gone (Leaflet throws on a removed map's fitBounds).
  let destroyed = false;

  let pending = null;
  function refresh() {
    if (destroyed) return Promise.resolve();
    const [start, end] = timeRange();
    if (live) cursor = end;
    const wanted = new Map([...groups.keys()].map((id) => [id, new Set()]));
    const totals = new Map([...groups.keys()].map((id) => [id, 0]));
    const withheld = { count: 0 };
    const drawn = [];
    for (const item of items.values()) {
      totals.set(item.layer, (totals.get(item.layer) || 0) + 1);
      if (partner && !releasableTo(item.marking, partner)) withheld.count += 1;
      if (visible(item, start)) {
        wanted.get(item.layer).add(item.id);
        drawn.push(item);
      }
    }
    const work = [];
    for (const [layerId, group] of groups) {
      const have = shown.get(layerId);
      const want = wanted.get(layerId);
      const remove = [...have].filter((id) => !want.has(id)).map((id) => markers.get(id));
      const add = [...want].filter((id) => !have.has(id)).map((id) => markerFor(items.get(id)));
      if (remove.length) group.removeLayers(remove);
      if (add.length) work.push(addMarkers(group, add));
      shown.set(layerId, want);
      const counter = counters.get(layerId);
      counter.textContent = available.get(layerId) === false ? tr("map.layer.unavailable") : `${want.size}/${totals.get(layerId)}`;
    }
    root.dataset.shown = String(drawn.length);
    updateTimeline(start, end);
    updatePartnerNotice(drawn, withheld.count);
    pending = Promise.all(work);
    return pending;
  }

  // Live updates come in bursts: one refresh per frame, whatever their number.
  // The page counts the updates it has drawn (data-live-updates).
  let refreshFrame = null;
  let liveUpdates = 0;
  function scheduleRefresh() {
    if (refreshFrame !== null) return;
    refreshFrame = requestAnimationFrame(() => {
      refreshFrame = null;
      refresh();
      root.dataset.liveUpdates = String(liveUpdates);
    });
  }

  // Resolves once the cluster group has taken every marker (it adds them in
  // chunks, yielding to the page between them; chunkProgress is read per call).
  function addMarkers(group, markersToAdd) {
    return new Promise((resolve) => {
      group.options.chunkProgress = (processed, total) => {
        if (processed >= total) resolve();
      };
      group.addLayers(markersToAdd);
      group.options.chunkProgress = null;
    });
  }

  function updatePartnerNotice(drawn, withheld) {
    if (!partner) {
      partnerNotice.hidden = true;
      root.dataset.partner = "";
      return;
    }
    root.dataset.partner = partner;
    partnerNotice.hidden = false;
    const shownMarking = drawn.length ? highWater(drawn.map((i) => i.marking)) : null;
    partnerNotice.replaceChildren(
      el("span", { text: tr("map.partner.notice", { nation: nationName(partner, lang), withheld }) }),
      shownMarking ? el("span", { text: ` ${tr("map.partner.marking")} ` }) : null,
      shownMarking ? portionMark(shownMarking) : null,
    );
  }

  // --------------------------------------------------------------- timeline
  function updateTimeline(start, end) {
    const value = live ? SLIDER_STEPS : Math.round(((cursor - start) / Math.max(1, end - start)) * SLIDER_STEPS);
    slider.value = String(Math.max(0, Math.min(SLIDER_STEPS, value)));
    slider.setAttribute("aria-valuetext", live ? tr("map.time.now") : formatTime(cursor, lang));
    timeLabel.textContent = live ? tr("map.time.now") : formatTime(cursor, lang);
    root.dataset.live = String(live);
    nowButton.disabled = live;
  }

  function stopReplay() {
    if (replay !== null) clearInterval(replay);
    replay = null;
    playButton.setAttribute("aria-pressed", "false");
    playButton.textContent = tr("map.time.play");
  }

  slider.addEventListener("input", () => {
    stopReplay();
    const [start, end] = timeRange();
    const value = Number(slider.value);
    live = value >= SLIDER_STEPS;
    cursor = live ? end : start + ((end - start) * value) / SLIDER_STEPS;
    refresh();
  });
  windowSelect.addEventListener("change", () => {
    windowHours = windowSelect.value === "all" ? null : Number(windowSelect.value);
    refresh();
  });
  nowButton.addEventListener("click", () => {
    stopReplay();
    live = true;
    refresh();
  });
  playButton.addEventListener("click", () => {
    if (replay !== null) {
      stopReplay();
      return;
    }
    const [start] = timeRange();
    live = false;
    cursor = start;
    playButton.setAttribute("aria-pressed", "true");
    playButton.textContent = tr("map.time.pause");
    replay = setInterval(() => {
      const [from, end] = timeRange();
      cursor += ((end - from) * REPLAY_TICK_MS) / REPLAY_MS;
      if (cursor >= end) {
        stopReplay();
        live = true;
      }
      refresh();
    }, REPLAY_TICK_MS);
    refresh();
  });
  // "Now" moves: in live mode the window slides and stale tracks fade.
  timers.push(
    setInterval(() => {
      if (!live) return;
      const now = Date.now();
      for (const item of items.values()) {
        if (item.layer !== "tracks" || !item.record.stale) continue;
        const stale = Date.parse(item.record.stale) < now;
        if (stale !== item.stale) {
          item.stale = stale;
          markers.get(item.id)?.setIcon(symbolIcon(item.sidc, { stale, layer: item.layer }));
        }
      }
      refresh();
    }, 30_000),
  );

  // ---------------------------------------------------------------- partner
  function fillPartners() {
    const codes = new Set(PARTNERS);
    for (const item of items.values()) for (const code of nationsNamed(item.marking)) codes.add(code);
    const current = partnerSelect.value;
    const options = [...codes].map((code) => [code, nationName(code, lang)]).sort((a, b) => a[1].localeCompare(b[1], lang));
    partnerSelect.replaceChildren(
      el("option", { text: tr("map.partner.none"), attrs: { value: "" } }),
      ...options.map(([code, name]) => el("option", { text: name, attrs: { value: code } })),
    );
    partnerSelect.value = current;
  }
  partnerSelect.addEventListener("change", () => {
    partner = partnerSelect.value;
    refresh();
  });

  // ------------------------------------------------------------ coordinates
  let frame = null;
  function showCoordinates(latlng, label) {
    const grid = toMgrs(latlng.lat, latlng.lng);
    coords.dataset.lat = latlng.lat.toFixed(5);
    coords.dataset.lon = latlng.lng.toFixed(5);
    coords.replaceChildren(
      el("span", { className: "cop-coords-what", text: label }),
      el("span", { className: "cop-mgrs", text: grid ? `MGRS ${grid}` : tr("map.coords.no_mgrs") }),
      el("span", { className: "cop-dd", text: toDecimalDegrees(latlng.lat, latlng.lng) }),
    );
  }
  map.on("mousemove", (event) => {
    if (frame !== null) return;
    frame = requestAnimationFrame(() => {
      frame = null;
      showCoordinates(event.latlng, tr("map.coords.pointer"));
    });
  });
  map.on("moveend", () => showCoordinates(map.getCenter(), tr("map.coords.centre")));
  map.on("mouseout", () => showCoordinates(map.getCenter(), tr("map.coords.centre")));
  showCoordinates(map.getCenter(), tr("map.coords.centre"));

  // ------------------------------------------------------------------- area
  let cancelDrawing = null;
  let areaLayer = null;
  function stopDrawing() {
    if (cancelDrawing) cancelDrawing();
    cancelDrawing = null;
  }
  drawButton.addEventListener("click", () => {
    if (cancelDrawing) {
      stopDrawing();
      return;
    }
    drawButton.setAttribute("aria-pressed", "true");
    const help = drawingHelp(tr).addTo(map);
    cancelDrawing = drawRectangle(map, {
      onDone(bounds) {
        cancelDrawing = null;
        drawButton.setAttribute("aria-pressed", "false");
        help.remove();
        showArea(bounds);
      },
      onCancel() {
        drawButton.setAttribute("aria-pressed", "false");
        help.remove();
      },
    });
  });

  function showArea(bounds) {
    if (areaLayer) areaLayer.remove();
    areaLayer = L.rectangle(bounds, { className: "drawn-area", interactive: false }).addTo(map);
    const bbox = boundsToBbox(bounds);
    const text = bbox.join(",");
    const results = el("ol", { className: "cop-area-results" });
    const searchButton = el("button", { className: "cop-area-search", text: tr("map.area.search"), attrs: { type: "button" } });
    const closeButton = el("button", { className: "cop-area-close", text: tr("map.area.close"), attrs: { type: "button" } });
    areaPanel.replaceChildren(
      el("h2", { text: tr("map.area.title") }),
      el("p", { className: "cop-area-bbox", text: `${tr("map.area.bbox")} ${text}`, attrs: { "data-bbox": text } }),
      el("a", { className: "cop-area-brief", text: tr("map.area.brief"), attrs: { href: `/brief?bbox=${encodeURIComponent(text)}` } }),
      searchButton,
      closeButton,
      results,
    );
    areaPanel.hidden = false;
    root.dataset.bbox = text;
    closeButton.addEventListener("click", () => {
      areaPanel.hidden = true;
      areaPanel.replaceChildren();
      if (areaLayer) areaLayer.remove();
      areaLayer = null;
      delete root.dataset.bbox;
    });
    searchButton.addEventListener("click", async () => {
      results.replaceChildren(el("li", { text: tr("map.popup.loading") }));
      try {
        const body = await fetchJson(`/api/events?format=geojson&bbox=${encodeURIComponent(text)}`);
        mark(body.marking);
        const found = (body.features || []).map(eventItem);
        results.replaceChildren();
        if (!found.length) results.append(el("li", { text: tr("map.area.none") }));
        for (const item of found) {
          if (!items.has(item.id)) items.set(item.id, item);
          const show = el("button", { className: "cop-area-show", text: tr("map.area.show"), attrs: { type: "button" } });
          show.addEventListener("click", () => showItem(item.id));
          results.append(
            el("li", { className: "cop-area-result" }, [
              portionMark(item.marking),
              el("span", { text: ` ${item.title}` }),
              item.time !== null ? el("span", { className: "cop-area-when", text: ` · ${formatTime(item.time, lang)}` }) : null,
              show,
              item.record.doc_id ? el("a", { className: "citation-link", text: tr("map.popup.open_report"), attrs: { href: `/documents/${encodeURIComponent(item.record.doc_id)}` } }) : null,
            ]),
          );
        }
      } catch (error) {
        results.replaceChildren(el("li", { text: `${tr("map.error")} ${error.message || ""}` }));
      }
    });
  }

  /** Reveal an item (zooming or spiderfying its cluster) and open its popup. */
  async function showItem(id) {
    const item = items.get(id);
    if (!item) return false;
    await pending;
    const marker = markerFor(item);
    const group = groups.get(item.layer);
    if (!shown.get(item.layer).has(id)) return false;
    await new Promise((resolve) => group.zoomToShowLayer(marker, resolve));
    marker.openPopup();
    return true;
  }

  // ------------------------------------------------------------------ loading
  function upsert(item) {
    const known = items.get(item.id);
    if (known && known.time !== null && item.time !== null && item.time < known.time) return;
    items.set(item.id, item);
    const marker = markers.get(item.id);
    if (!marker) return;
    const group = groups.get(item.layer);
    const isShown = shown.get(item.layer).has(item.id);
    if (isShown) group.removeLayer(marker);
    marker.setLatLng([item.lat, item.lon]);
    marker.setIcon(symbolIcon(item.sidc, { stale: item.stale, layer: item.layer }));
    marker.options.title = item.title;
    if (isShown) group.addLayer(marker);
  }

  function openStream(layer) {
    if (typeof EventSource !== "function") return;
    const source = new EventSource(layer.stream.path, { withCredentials: true });
    sources.push(source);
    liveStatus.dataset.state = "connecting";
    liveStatus.textContent = tr("map.live.connecting");
    source.addEventListener("open", () => {
      liveStatus.dataset.state = "live";
      liveStatus.textContent = tr("map.live.on");
    });
    source.addEventListener("error", () => {
      const closed = source.readyState === EventSource.CLOSED;
      liveStatus.dataset.state = closed ? "off" : "connecting";
      liveStatus.textContent = tr(closed ? "map.live.off" : "map.live.connecting");
    });
    source.addEventListener(layer.stream.event, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      const item = layer.stream.item(data);
      if (!item || typeof item.lat !== "number" || typeof item.lon !== "number") return;
      mark(item.marking);
      upsert(item);
      liveUpdates += 1;
      scheduleRefresh();
    });
  }

  async function load() {
    const problems = [];
    // The markings vocabulary, the layers and the basemap load side by side.
    const vocabulary = markingsReady().then(
      () => null,
      (error) => error,
    );
    await Promise.all(
      LAYERS.map(async (layer) => {
        try {
          const { items: loaded, marking } = await layer.load(fetchJson);
          for (const item of loaded) upsert(item);
          available.set(layer.id, true);
          mark(marking);
          if (layer.stream) openStream(layer);
        } catch (error) {
          available.set(layer.id, false);
          if (!(error instanceof LayerUnavailable)) problems.push(`${tr(layer.label)}: ${error.message || error}`);
        }
      }),
    );
    const unreadable = await vocabulary;
    if (destroyed) return;
    if (unreadable) {
      status.textContent = `${tr("map.error")} ${unreadable.message || unreadable}`;
      return;
    }
    await map.basemap;
    if (destroyed) return;
    fillPartners();
    const located = [...items.values()].map((i) => [i.lat, i.lon]);
    if (located.length) map.fitBounds(L.latLngBounds(located), { padding: [30, 30], maxZoom: 9, animate: false });
    status.textContent = problems.length ? `${tr("map.error")} ${problems.join("; ")}` : "";
    await refresh();
    // Two frames: the symbols added are painted before the page says it is ready.
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    if (destroyed) return;
    // Milliseconds from the page's navigation to this point (benchmarks/cop_render.py).
    root.dataset.readyAt = String(Math.round(performance.now()));
    root.dataset.ready = "true";
    root.dispatchEvent(new CustomEvent("cop:ready", { bubbles: true }));
  }

  const handle = {
    map,
    ready: load(),
    showItem,
    destroy() {
      destroyed = true;
      if (refreshFrame !== null) cancelAnimationFrame(refreshFrame);
      stopReplay();
      stopDrawing();
      for (const source of sources) source.close();
      for (const timer of timers) clearInterval(timer);
      map.remove();
      element.replaceChildren();
    },
  };
  root.cop = handle;
  if (signal) signal.addEventListener("abort", () => handle.destroy(), { once: true });
  return handle;
}

/** A small map of GeoJSON features (an entity's events), with their popups. */
export function mountMiniMap(element, features, { t, lang, api } = {}) {
  lang = pageLang(lang);
  const tr = translator(t, lang);
  const fetchJson = makeFetcher(api);
  const box = el("div", { className: "mini-map-canvas", attrs: { role: "region", "aria-label": tr("map.mini.label") } });
  element.replaceChildren(box);
  const map = baseMap(box, tr);
  const located = (features || []).filter((f) => f && f.geometry && f.geometry.type === "Point").map(eventItem);
  if (located.length) map.fitBounds(L.latLngBounds(located.map((i) => [i.lat, i.lon])), { padding: [20, 20], maxZoom: 9, animate: false });
  const ready = markingsReady()
    .catch(() => {}) // portion marks then show the canonical marking
    .then(() => {
      for (const item of located) {
        const marker = L.marker([item.lat, item.lon], { icon: symbolIcon(item.sidc, { layer: item.layer }), title: item.title, alt: item.title, keyboard: true });
        marker.bindPopup(() => popupContent(item, { tr, lang, fetchJson }), { maxWidth: 340, maxHeight: 260, className: "cop-popup" });
        marker.addTo(map);
      }
      box.dataset.symbols = String(located.length);
    });
  return {
    map,
    ready,
    destroy() {
      map.remove();
      element.replaceChildren();
    },
  };
}

/**
 * Let the user draw a rectangle on a map in `element`. Resolves with its bbox
 * [W, S, E, N] in decimal degrees; if the user cancels, the map is removed
 * and the promise rejects with null (nothing to report). `bbox` (optional)
 * shows a previous choice.
 */
export function drawArea(element, { t, lang, bbox } = {}) {
  lang = pageLang(lang);
  const tr = translator(t, lang);
  const box = el("div", { className: "area-map", attrs: { role: "region", "aria-label": tr("map.draw.region") } });
  const help = el("p", { className: "area-help", text: tr("map.draw.instructions") });
  const visibleButton = el("button", { className: "area-visible", text: tr("map.draw.visible"), attrs: { type: "button" } });
  const cancelButton = el("button", { className: "area-cancel", text: tr("map.draw.cancel"), attrs: { type: "button" } });
  const chosen = el("p", { className: "area-chosen", attrs: { role: "status" } });
  const wrapper = el("div", { className: "area-picker" }, [help, box, el("div", { className: "area-actions" }, [visibleButton, cancelButton]), chosen]);
  element.replaceChildren(wrapper);
  const map = baseMap(box, tr);
  // The user asked for the map: bring it into view (a form may have it below the fold).
  if (typeof wrapper.scrollIntoView === "function") wrapper.scrollIntoView({ block: "nearest" });
  if (Array.isArray(bbox) && bbox.length === 4) {
    const bounds = L.latLngBounds([bbox[1], bbox[0]], [bbox[3], bbox[2]]);
    L.rectangle(bounds, { className: "drawn-area", interactive: false }).addTo(map);
    map.fitBounds(bounds, { padding: [20, 20], animate: false });
  }
  return new Promise((resolve, reject) => {
    let done = false;
    function finish(bounds) {
      if (done) return;
      done = true;
      cancel();
      if (bounds === null) {
        map.remove();
        element.replaceChildren();
        reject(null);
        return;
      }
      const result = boundsToBbox(bounds);
      L.rectangle(bounds, { className: "drawn-area", interactive: false }).addTo(map);
      chosen.textContent = `${tr("map.area.bbox")} ${result.join(",")}`;
      wrapper.dataset.bbox = result.join(",");
      visibleButton.disabled = true;
      cancelButton.disabled = true;
      resolve(result);
    }
    const cancel = drawRectangle(map, { onDone: finish, onCancel: () => finish(null) });
    visibleButton.addEventListener("click", () => finish(map.getBounds()));
    cancelButton.addEventListener("click", () => finish(null));
  });
}
