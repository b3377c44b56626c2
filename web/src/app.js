// guetteur's web application: the staff's screen over the HTTP API.
//
// Plain ES modules, built by esbuild (web/build.mjs) into static files that
// `guetteur serve` sends without authentication — they hold no data. Every
// datum comes from /api under the user's session, and every page shows the
// high-water mark of what it displays in its top and bottom banners.
import "./styles/app.css";
import { trackMarkings } from "./lib/api.js";
import { h, replace } from "./lib/dom.js";
import { lang, setLang, t } from "./lib/i18n.js";
import { loadMarkings } from "./lib/markings.js";
import { navigate, refresh, startRouter } from "./lib/router.js";
import { forget, logOut } from "./lib/session.js";
import { buildShell, raiseBanner } from "./lib/shell.js";
import admin from "./pages/admin.js";
import ask from "./pages/ask.js";
import brief from "./pages/brief.js";
import documentPage from "./pages/document.js";
import entity from "./pages/entity.js";
import { incidentPage, incidentsPage } from "./pages/incidents.js";
import login from "./pages/login.js";
import map from "./pages/map.js";
import password from "./pages/password.js";
import search from "./pages/search.js";
import watch from "./pages/watch.js";

const ROUTES = [
  ["/login", login],
  ["/password", password],
  ["/", search],
  ["/documents/:id", documentPage],
  ["/ask", ask],
  ["/brief", brief],
  ["/watch", watch],
  ["/incidents", incidentsPage],
  ["/incidents/:id", incidentPage],
  ["/entities/:id", entity],
  ["/map", map],
  ["/admin", admin],
];

async function start() {
  const root = document.getElementById("app");
  try {
    await loadMarkings();
  } catch (error) {
    // Without the markings vocabulary no banner can be drawn: show nothing else.
    replace(root, h("p", { class: "problem", role: "alert" }, t("problem.startup")));
    throw error;
  }
  setLang(lang());
  const main = buildShell(root, {
    onToggleLanguage: () => {
      setLang(lang() === "fr" ? "en" : "fr");
      refresh();
    },
    onLogout: async () => {
      try {
        await logOut();
      } finally {
        navigate("/login", { replace: true });
      }
    },
  });
  trackMarkings({
    marking: raiseBanner,
    unauthenticated: () => {
      // The session ended (idle, expired, or logged out elsewhere): log in again.
      forget();
      if (location.pathname !== "/login") {
        navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
      }
    },
  });
  await startRouter(main, ROUTES);
}

start();
