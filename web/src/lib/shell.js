// The frame around every page: the classification banners at top and bottom,
// the navigation, who is logged in (name, clearance, nationality, role), the
// language toggle and logout.
//
// A page's banner starts at UNCLASSIFIED and only rises: each marking the page
// shows (every marked /api answer it fetched, see api.js) is folded in with the
// high-water mark. The banner's `data-marking` holds the canonical marking.
import { h, replace } from "./dom.js";
import { lang, t, tOr } from "./i18n.js";
import { NOTHING_MARKED, highWater, levelClass, markingLang } from "./markings.js";

const NAVIGATION = [
  ["/", "nav.search", "search"],
  ["/ask", "nav.ask", "ask"],
  ["/brief", "nav.brief", "brief"],
  ["/watch", "nav.watch", "watch"],
  ["/incidents", "nav.incidents", "incidents"],
  ["/map", "nav.map", "map"],
  ["/admin", "nav.admin", "admin"],
];

const elements = {};
let pageMarking = NOTHING_MARKED;

export function buildShell(root, { onToggleLanguage, onLogout }) {
  elements.top = h("div", { class: "banner banner-top", role: "note" });
  elements.bottom = h("div", { class: "banner banner-bottom", role: "note" });
  elements.skip = h("a", { class: "skip", href: "#main" });
  elements.brand = h("a", { class: "brand", href: "/" }, h("img", { src: "/static/icon.svg", alt: "" }), "guetteur");
  elements.nav = h("nav", { class: "nav" });
  elements.who = h("div", { class: "who" });
  elements.toggle = h("button", { type: "button", class: "toggle", onclick: onToggleLanguage });
  elements.logout = h("button", { type: "button", class: "logout", onclick: onLogout });
  elements.header = h("header", { class: "masthead" }, elements.brand, elements.nav, elements.who, elements.toggle, elements.logout);
  elements.main = h("main", { id: "main", class: "main", tabindex: "-1" });
  elements.status = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  replace(root, elements.skip, elements.top, elements.header, elements.main, elements.status, elements.bottom);
  setBanner(NOTHING_MARKED);
  return elements.main;
}

function setBanner(marking) {
  pageMarking = marking;
  for (const banner of [elements.top, elements.bottom]) {
    banner.className = `banner ${banner === elements.top ? "banner-top" : "banner-bottom"} ${levelClass(marking)}`;
    banner.dataset.marking = marking;
    banner.setAttribute("aria-label", t("banner.label"));
    banner.textContent = marking;
    banner.lang = markingLang(marking);
  }
}

/** A new page: its banner starts from nothing marked. */
export function resetBanner() {
  setBanner(NOTHING_MARKED);
}

/** Raise the page's banner to cover `marking` (canonical). */
export function raiseBanner(marking) {
  if (!marking) return;
  const combined = highWater([pageMarking, marking]);
  if (combined !== pageMarking) setBanner(combined);
}

export function bannerMarking() {
  return pageMarking;
}

/** Redraw the frame's words (after login, logout or a language change). */
export function updateShell(session, active) {
  document.title = "guetteur";
  elements.skip.textContent = t("shell.skip");
  elements.nav.setAttribute("aria-label", t("nav.label"));
  elements.toggle.textContent = lang() === "fr" ? "EN" : "FR";
  elements.toggle.setAttribute("lang", lang() === "fr" ? "en" : "fr");
  elements.toggle.setAttribute("aria-label", t("shell.toggle"));
  elements.toggle.title = t("shell.toggle");
  elements.logout.textContent = t("shell.logout");
  const user = session && session.user;
  const ready = user && !session.mustChange;
  elements.logout.hidden = !user;
  elements.nav.hidden = !ready;
  replace(
    elements.nav,
    ready
      ? NAVIGATION.map(([href, key, name]) => {
          // Everyone manages their own API tokens at /admin; officers, everything else.
          const label = name === "admin" && user.role !== "security_officer" ? "nav.account" : key;
          return h("a", { href, "aria-current": name === active ? "page" : null }, t(label));
        })
      : [],
  );
  replace(
    elements.who,
    user
      ? [
          h("span", { class: "who-name" }, user.name),
          h("span", { class: "who-detail" }, t("shell.clearance"), " ", h("strong", { "data-clearance": user.clearance }, tOr("level", user.clearance))),
          h("span", { class: "who-detail" }, t("shell.nationality"), " ", h("strong", null, user.nationality)),
          user.caveats && user.caveats.length ? h("span", { class: "who-detail" }, user.caveats.join(", ")) : null,
          h("span", { class: "who-detail" }, tOr("role", user.role)),
        ]
      : [],
  );
  elements.who.setAttribute("aria-label", t("shell.who"));
}

/** Tell screen readers something happened (a page loaded, a job finished). */
export function announce(text) {
  elements.status.textContent = "";
  setTimeout(() => {
    elements.status.textContent = text;
  }, 50);
}
