// What every page shares: the address (`#/page/...?params`), errors as the page says them,
// and small pieces of form and table.

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** Who signed in (`me`), once the page knows. */
export const session = { me: null };

/** Whether the signed-in role may read the personal-data access log (AUDITOR, MUNICIPAL). */
export function readsAccessLog() {
  return ["AUDITOR", "MUNICIPAL"].includes(session.me?.role);
}

/** Whether the signed-in role may search workers by name or ID number (every role that may
 * see some worker's personal data: not PARTNER). */
export function searchesPersonalData() {
  return ["AUDITOR", "MUNICIPAL", "DISTRICT", "CONTRACTOR"].includes(session.me?.role);
}

/** The address's path parts and its query parameters. */
export function route() {
  const [path, query] = (location.hash.slice(1) || "/search").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

/** Go to `path` with `params` (empty ones left out); the same address again redraws it. */
export function go(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  const hash = `#${path}${query.size ? `?${query}` : ""}`;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

/** An error as the page says it: a field the API lacks as "not available", refusals plainly. */
export function problem(error) {
  if (error instanceof ApiError && error.unsupported) {
    return h("p", { class: "unavailable" }, t("notAvailable"));
  }
  if (error instanceof ApiError && error.codes.includes("FORBIDDEN")) {
    return h("p", { class: "forbidden" }, t("forbidden"));
  }
  return h("p", { class: "error", role: "alert" }, t("error"), error.message || String(error));
}

/** A labelled form control. */
export function labelled(id, label, control) {
  control.id = id;
  if (!control.name) control.name = id;
  return h("div", { class: "control" }, h("label", { for: id }, label), control);
}

/** A table with a caption, heading cells and rows of cells (text or nodes). */
export function table(caption, headings, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    caption ? h("caption", {}, caption) : null,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headings.map((x) => h("th", { scope: "col" }, x)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((c) => h("td", {}, c)),
        ),
      ),
    ),
  );
}

/** A link to a record's page. */
export function recordLink(type, id, text) {
  return h(
    "a",
    { href: `#/record/${type}/${encodeURIComponent(id)}`, class: "record-link" },
    text || id,
  );
}

/** A value of the API as text: JSON for objects, a dash for null. */
export function shown(value) {
  if (value === null || value === undefined) return t("none");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
