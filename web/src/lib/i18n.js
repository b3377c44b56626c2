// The interface in French and in English: one strings table per language, with
// the same keys (the build refuses tables that differ). The language comes
// from the user's toggle, remembered in localStorage, else from the browser.
import en from "../strings/en.json";
import fr from "../strings/fr.json";

const TABLES = { en, fr };
const STORAGE_KEY = "guetteur.lang";
let current = pick();

function pick() {
  const chosen = localStorage.getItem(STORAGE_KEY);
  if (chosen && chosen in TABLES) return chosen;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return browser.toLowerCase().startsWith("fr") ? "fr" : "en";
}

export function lang() {
  return current;
}

export function setLang(code) {
  current = code in TABLES ? code : "en";
  localStorage.setItem(STORAGE_KEY, current);
  document.documentElement.lang = current;
}

/** The string `key` in the current language, "{name}" replaced from `params`. */
export function t(key, params) {
  let text = TABLES[current][key];
  if (text === undefined) {
    console.error(`missing string ${key}`);
    text = TABLES.en[key] ?? key;
  }
  if (params) text = text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
  return text;
}

export function has(key) {
  return key in TABLES[current];
}

/** `key` if it is in the table (a level, a role, a type...), else the value itself. */
export function tOr(prefix, value) {
  const key = `${prefix}.${String(value).toLowerCase().replace(/[\s-]+/g, "_")}`;
  return key in TABLES[current] ? TABLES[current][key] : String(value);
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(current === "fr" ? "fr-FR" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone: "UTC",
  }).format(date) + " UTC";
}

export function formatNumber(value, digits = 0) {
  return new Intl.NumberFormat(current === "fr" ? "fr-FR" : "en-GB", {
    maximumFractionDigits: digits,
  }).format(value);
}

document.documentElement.lang = current;
