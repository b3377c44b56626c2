// Builds guetteur's web application into src/guetteur/web/static/, which ships
// inside the Python package and is served by `guetteur serve` (api/web.py).
//
// Everything the browser loads is here after the build: the application
// (src/app.js), the map module when present (src/map/index.js, loaded by the
// application on the pages that show a map), the style sheets, Leaflet's CSS
// and images, and the Natural Earth data of world-atlas. Nothing is fetched
// from elsewhere at run time, and the page holds no inline script or style
// (the server's CSP is `script-src 'self'; style-src 'self'`).
import { build } from "esbuild";
import { existsSync, rmSync } from "node:fs";
import { cp, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = resolve(here, "../src/guetteur/web/static");
// Built beside the target, then swapped in: a server running meanwhile keeps
// serving the previous build instead of an empty folder.
const out = `${target}.building-${process.pid}`;
process.on("exit", () => rmSync(out, { recursive: true, force: true }));
const modules = join(here, "node_modules");

// Both languages complete: the two strings tables must hold the same keys.
const en = JSON.parse(await readFile(join(here, "src/strings/en.json"), "utf8"));
const fr = JSON.parse(await readFile(join(here, "src/strings/fr.json"), "utf8"));
const missing = [
  ...Object.keys(en).filter((key) => !(key in fr)).map((key) => `fr lacks ${key}`),
  ...Object.keys(fr).filter((key) => !(key in en)).map((key) => `en lacks ${key}`),
];
if (missing.length) {
  console.error(`strings tables differ:\n  ${missing.join("\n  ")}`);
  process.exit(1);
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// app.js imports its style sheet: esbuild writes it beside it as app.css.
const entryPoints = { app: join(here, "src/app.js") };
const mapEntry = join(here, "src/map/index.js");
const hasMap = existsSync(mapEntry);
if (hasMap) entryPoints.map = mapEntry;

const result = await build({
  entryPoints,
  outdir: out,
  bundle: true,
  format: "esm",
  target: ["chrome109", "firefox115", "safari16"],
  minify: true,
  // No source maps: they would ship the libraries' sources (and the addresses in their
  // comments) inside the package; the bundles are what runs, offline.
  sourcemap: false,
  legalComments: "linked",
  metafile: true,
  loader: { ".png": "file", ".svg": "file", ".woff2": "file" },
  assetNames: "assets/[name]-[hash]",
  logLevel: "warning",
});

// Leaflet's and markercluster's style sheets with their images, for the map
// module (loaded beside it), and the Natural Earth basemap data.
await cp(join(modules, "leaflet/dist/leaflet.css"), join(out, "vendor/leaflet/leaflet.css"));
await cp(join(modules, "leaflet/dist/images"), join(out, "vendor/leaflet/images"), { recursive: true });
for (const name of ["MarkerCluster.css", "MarkerCluster.Default.css"]) {
  await cp(join(modules, "leaflet.markercluster/dist", name), join(out, "vendor/markercluster", name));
}
for (const name of ["land-110m.json", "countries-110m.json", "land-50m.json", "countries-50m.json"]) {
  await cp(join(modules, "world-atlas", name), join(out, "vendor/world-atlas", name));
}
await cp(join(modules, "world-atlas/LICENSE"), join(out, "vendor/world-atlas/LICENSE"));
await cp(join(here, "src/index.html"), join(out, "index.html"));
await cp(join(here, "src/icon.svg"), join(out, "icon.svg"));

// What the application loads with the map module: Leaflet's style sheets,
// then the one esbuild wrote from the module's own CSS imports, if any.
const outputs = Object.keys(result.metafile.outputs).map((path) => path.split("/").pop());
const manifest = {
  map: hasMap ? "/static/map.js" : null,
  styles: [
    "/static/vendor/leaflet/leaflet.css",
    "/static/vendor/markercluster/MarkerCluster.css",
    "/static/vendor/markercluster/MarkerCluster.Default.css",
    ...(outputs.includes("map.css") ? ["/static/map.css"] : []),
  ],
};
await writeFile(join(out, "build.json"), JSON.stringify(manifest, null, 2) + "\n");
const previous = `${target}.previous-${process.pid}`;
if (existsSync(target)) await rename(target, previous);
await rename(out, target);
await rm(previous, { recursive: true, force: true });
console.log(`web application built in ${target}${hasMap ? " (with the map module)" : " (no map module yet)"}`);
