// The map module (web/src/map/, built as /static/map.js) is loaded only on the
// pages that show a map, with its style sheets. The application knows it only
// by the names it exports — mountMap(element, options) for the COP at /map,
// mountMiniMap(element, features) for an entity's events, drawArea(element)
// for the brief's area — and works without it: each use checks the export.

let loading = null;

function styleSheet(href) {
  if (document.querySelector(`link[rel="stylesheet"][href="${href}"]`)) return Promise.resolve();
  return new Promise((resolve) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    link.onload = resolve;
    link.onerror = resolve;
    document.head.append(link);
  });
}

/** The map module's exports, or null when this build has none. */
export function loadMapModule() {
  if (!loading) {
    loading = (async () => {
      try {
        const answer = await fetch("/static/build.json");
        if (!answer.ok) return null;
        const manifest = await answer.json();
        if (!manifest.map) return null;
        await Promise.all(manifest.styles.map(styleSheet));
        const url = manifest.map;
        return await import(/* a URL served beside app.js */ url);
      } catch (error) {
        console.error("map module", error);
        return null;
      }
    })();
  }
  return loading;
}

/** The export `name` if the map module has it, else null. */
export async function mapExport(name) {
  const module = await loadMapModule();
  return module && typeof module[name] === "function" ? module[name] : null;
}
