// The common operational picture at /map: this page is its frame; the map
// itself is the map module's (web/src/map/), mounted with mountMap.
import { mapCall } from "../lib/api.js";
import { append, h } from "../lib/dom.js";
import { lang, t } from "../lib/i18n.js";
import { mapExport } from "../lib/mapmodule.js";
import { raiseBanner } from "../lib/shell.js";
import { note } from "../lib/widgets.js";

export default {
  name: "map",
  title: "map.title",
  async render({ main, signal }) {
    const host = h("div", { class: "map-host" });
    main.classList.add("main-wide");
    signal.addEventListener("abort", () => main.classList.remove("main-wide"));
    append(main, h("h1", { class: "visually-hidden" }, t("map.title")), host);
    const mountMap = await mapExport("mountMap");
    if (signal.aborted) return;
    if (!mountMap) {
      host.replaceWith(note(t("map.unavailable")));
      return;
    }
    // The module fetches through mapCall (the session's CSRF token on writes);
    // each layer's marking raises this page's banner; leaving the page (the
    // signal aborts) unmounts the map, its live feed closed.
    mountMap(host, { api: mapCall, lang: lang(), onMarking: raiseBanner, signal });
  },
};
