// A small router over the stable URLs: each path pattern names a page module
// `{ name, title, public?, render(context) }`. Links inside the application
// are followed without reloading; the back and forward buttons work.
import { newPage } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { resetBanner, updateShell, announce } from "./shell.js";
import { loadSession, session } from "./session.js";
import { problemBox } from "./widgets.js";

let routes = [];
let main = null;
let controller = null;
let first = true;

function compile(pattern) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (match, name) => {
    names.push(name);
    return "([^/]+)";
  });
  return { regex: new RegExp(`^${source}/?$`), names };
}

export function startRouter(element, table) {
  main = element;
  routes = table.map(([pattern, page]) => ({ ...compile(pattern), page }));
  window.addEventListener("popstate", () => render());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/static/")) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  return render();
}

export function navigate(url, { replace: replacing = false } = {}) {
  if (replacing) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  return render();
}

/** Draw the current URL's page again (after a language change). */
export function refresh() {
  return render();
}

function match(pathname) {
  for (const route of routes) {
    const found = route.regex.exec(pathname);
    if (found) {
      const params = {};
      route.names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1]);
      });
      return { page: route.page, params };
    }
  }
  return null;
}

async function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  newPage();
  resetBanner();
  if (!session.loaded) await loadSession();
  const found = match(location.pathname);
  const here = location.pathname + location.search;
  // A client certificate authenticates reads on its own, but a page that may
  // write needs a session: its holder opens one from the login page.
  if (found && !found.page.public && (!session.user || session.method === "certificate")) {
    return navigate(`/login?next=${encodeURIComponent(here)}`, { replace: true });
  }
  if (found && session.user && session.mustChange && found.page.name !== "password" && found.page.name !== "login") {
    return navigate(`/password?next=${encodeURIComponent(here)}`, { replace: true });
  }
  const page = found ? found.page : notFound;
  updateShell(session, page.name);
  replace(main);
  document.title = `${t(page.title)} · guetteur`;
  const context = {
    main,
    params: found ? found.params : {},
    query: new URLSearchParams(location.search),
    hash: location.hash,
    signal,
    session,
    navigate,
  };
  try {
    await page.render(context);
  } catch (error) {
    if (error.name === "AbortError" || signal.aborted) return;
    console.error(error);
    main.append(problemBox(error));
  }
  if (signal.aborted) return;
  if (context.focusTarget) {
    // A page that opens at a passage (a citation, a mention) shows it first.
    context.focusTarget.scrollIntoView({ block: "center" });
    context.focusTarget.focus({ preventScroll: true });
  } else if (!first) {
    const heading = main.querySelector("h1") || main;
    heading.setAttribute("tabindex", "-1");
    window.scrollTo(0, 0);
    heading.focus({ preventScroll: true });
  }
  if (!first) announce(document.title);
  first = false;
}

const notFound = {
  name: "not-found",
  title: "notfound.title",
  public: true,
  render({ main: element }) {
    element.append(
      h("h1", null, t("notfound.title")),
      h("p", null, t("notfound.text")),
      h("p", null, h("a", { href: "/" }, t("notfound.home"))),
    );
  },
};
