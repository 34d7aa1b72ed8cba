// The workbench: sign-in, the header (who you are, the language switch) and the pages, one per
// address after `#` (#/search, #/record/TYPE/ID, #/dashboard, #/audit, #/access).

import { gql, setToken, token } from "./api.js";
import { auditPage, accessPage } from "./audit.js";
import { dashboardPage } from "./dashboard.js";
import { h, put } from "./dom.js";
import {
  jurisdictionName,
  language,
  loadVocabulary,
  roleName,
  setLanguage,
  t,
} from "./i18n.js";
import { recordPage, searchPage } from "./record.js";
import { problem, readsAccessLog, route, session } from "./ui.js";

const ME = "{ me { sub role party jurisdiction district { code name } agency } }";
const root = document.getElementById("app");
let me = null;

function signInPage(message) {
  const input = h("textarea", {
    id: "token",
    name: "token",
    rows: 4,
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const form = h(
    "form",
    {
      class: "signin",
      onsubmit: async (event) => {
        event.preventDefault();
        setToken(input.value.trim());
        await start();
      },
    },
    h("h1", {}, t("title")),
    h("label", { for: "token" }, t("tokenLabel")),
    input,
    h("p", { class: "hint" }, t("tokenHint")),
    h("button", { type: "submit" }, t("signIn")),
    message ? h("p", { class: "error", role: "alert" }, t("signInFailed"), message) : null,
  );
  put(root, languageSwitch(), form);
}

function languageSwitch() {
  return h(
    "button",
    {
      type: "button",
      class: "language",
      lang: language() === "zh" ? "en" : "zh",
      onclick: () => {
        setLanguage(language() === "zh" ? "en" : "zh");
        document.title = t("title");
        if (me) render();
        else signInPage();
      },
    },
    t("language"),
  );
}

function header() {
  const { parts } = route();
  const link = (path, key) =>
    h("a", { href: `#/${path}`, "aria-current": parts[0] === path ? "page" : null }, t(key));
  return h(
    "header",
    {},
    h("span", { class: "brand" }, t("title")),
    h(
      "nav",
      {},
      link("search", "navSearch"),
      link("dashboard", "navDashboard"),
      link("audit", "navAudit"),
      readsAccessLog() ? link("access", "navAccess") : null,
    ),
    h(
      "span",
      { class: "me", id: "me" },
      `${t("you")}: `,
      h("strong", { class: "sub" }, me.sub),
      ` · ${t("role")}: `,
      h("span", { class: "role" }, roleName(me.role)),
      ` · ${t("jurisdiction")}: `,
      h("span", {}, me.district ? me.district.name : jurisdictionName(me.jurisdiction)),
    ),
    languageSwitch(),
    h(
      "button",
      {
        type: "button",
        class: "signout",
        onclick: () => {
          setToken(null);
          me = session.me = null;
          signInPage();
        },
      },
      t("signOut"),
    ),
  );
}

const PAGES = {
  search: searchPage,
  record: recordPage,
  dashboard: dashboardPage,
  audit: auditPage,
  access: accessPage,
};

function render() {
  const main = h("main", { id: "main" });
  put(root, header(), main);
  const { parts, params } = route();
  const page = PAGES[parts[0]] || searchPage;
  page(main, parts.slice(1), params).catch((error) => main.append(problem(error)));
}

async function start() {
  document.title = t("title");
  setLanguage(language());
  await loadVocabulary();
  if (!token()) return signInPage();
  try {
    me = session.me = (await gql(ME)).me;
  } catch (error) {
    setToken(null);
    return signInPage(error.message);
  }
  render();
}

window.addEventListener("hashchange", () => me && render());
window.addEventListener("hub:signed-out", (event) => {
  me = session.me = null;
  signInPage(event.detail);
});
start();
