// The audit trail explorer (`auditTrail`'s filters as a form, pages, CSV export) and the log
// of who looked at personal data (`personalDataAccess`), as a page and on a worker's page.

import { gql, instant, shownTime } from "./api.js";
import { csv, download } from "./csv.js";
import { h, put } from "./dom.js";
import {
  entityName,
  eventName,
  eventTypes,
  fieldName,
  jurisdictionName,
  number,
  roleName,
  t,
} from "./i18n.js";
import { labelled, problem, recordLink, shown, table } from "./ui.js";

const ENTITY_TYPES = ["AGENCY", "COMMUNITY", "STATION", "POST", "WORKER", "COURSE", "PROJECT"];
const PAGE = 50;
const EXPORT_PAGE = 500;
const EXPORT_MOST = 100_000;

const TRAIL = `query($first: Int!, $after: String, $filter: AuditFilter) {
  auditTrail(first: $first, after: $after, filter: $filter) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { position recordedAt effectiveOn type entityType entityId version reason
      retracts requestId correlationId actor { sub party role jurisdiction } data } } } }`;

const COLUMNS = [
  "position",
  "recordedAt",
  "effectiveOn",
  "type",
  "entityType",
  "entityId",
  "version",
  "actor.sub",
  "actor.role",
  "actor.party",
  "actor.jurisdiction",
  "reason",
  "retracts",
  "requestId",
  "correlationId",
  "data",
];

function column(event, name) {
  return name.split(".").reduce((v, k) => (v === null || v === undefined ? v : v[k]), event);
}

/** Pages of a connection under a form: `load(first, after)` answers it; `row` draws a node. */
function pager(box, load, headings, row) {
  const cursors = [null];
  const show = async (n) => {
    put(box, h("p", {}, t("loading")));
    try {
      const found = await load(PAGE, cursors[n]);
      cursors[n + 1] = found.pageInfo.endCursor;
      const nodes = found.edges.map((e) => e.node);
      put(
        box,
        h("p", { class: "total" }, t("total", number(found.totalCount)), " · ", t("page", n + 1)),
        table(null, headings, nodes.map(row), { class: "results-table" }),
        h(
          "div",
          { class: "paging" },
          n > 0
            ? h(
                "button",
                { type: "button", class: "previous", onclick: () => show(n - 1) },
                t("previous"),
              )
            : null,
          found.pageInfo.hasNextPage
            ? h("button", { type: "button", class: "next", onclick: () => show(n + 1) }, t("next"))
            : null,
        ),
      );
    } catch (error) {
      put(box, problem(error));
    }
  };
  return show(0);
}

function select(options, value = "") {
  return h(
    "select",
    {},
    h("option", { value: "" }, t("any")),
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

export async function auditPage(main) {
  const districts = (await gql("{ districts { code name } }")).districts;
  const control = {
    actor: h("input", { type: "text" }),
    party: select(["MUNICIPAL", "DISTRICT", "CONTRACTOR"].map((p) => [p, roleName(p)])),
    district: select(districts.map((d) => [d.code, d.name])),
    entityId: h("input", { type: "text" }),
    type: select(eventTypes().map((type) => [type, eventName(type)])),
    recordedFrom: h("input", { type: "datetime-local", step: "0.001" }),
    recordedTo: h("input", { type: "datetime-local", step: "0.001" }),
    effectiveFrom: h("input", { type: "date" }),
    effectiveTo: h("input", { type: "date" }),
  };
  const kinds = ENTITY_TYPES.map((type) =>
    h("input", { type: "checkbox", value: type, name: "entityTypes", id: `kind-${type}` }),
  );
  const results = h("section", { id: "audit-results" });
  const status = h("p", { class: "status", role: "status" });

  const filter = () => {
    const f = {};
    for (const [name, node] of Object.entries(control)) {
      const value = node.value.trim();
      if (!value) continue;
      f[name] = name.startsWith("recorded") ? instant(value) : value;
    }
    const types = kinds.filter((k) => k.checked).map((k) => k.value);
    if (types.length) f.entityTypes = types;
    return f;
  };
  const load = async (first, after) =>
    (await gql(TRAIL, { first, after, filter: filter() })).auditTrail;
  const exportAll = async () => {
    const rows = [];
    let after = null;
    try {
      for (;;) {
        status.textContent = t("exporting", rows.length);
        const found = await load(EXPORT_PAGE, after);
        for (const { node } of found.edges) rows.push(COLUMNS.map((c) => column(node, c)));
        if (!found.pageInfo.hasNextPage || rows.length >= EXPORT_MOST) break;
        after = found.pageInfo.endCursor;
      }
    } catch (error) {
      put(status, problem(error));
      return;
    }
    download("audit-trail.csv", csv(COLUMNS, rows));
    status.textContent = t("exported", rows.length);
  };

  put(
    main,
    h("h1", {}, t("audit")),
    h(
      "form",
      {
        class: "filters",
        id: "audit-filter",
        onsubmit: (e) => {
          e.preventDefault();
          pager(
            results,
            load,
            [
              t("position"),
              t("recordedAt"),
              t("effectiveOn"),
              t("eventType"),
              t("record"),
              t("actor"),
              t("party"),
              t("jurisdiction"),
              t("reason"),
            ],
            (e) => [
              String(e.position),
              shownTime(e.recordedAt),
              e.effectiveOn,
              h(
                "span",
                { class: e.retracts.length ? "corrects" : "", title: e.type },
                eventName(e.type),
                e.retracts.length ? ` → #${e.retracts.join(", #")}` : "",
              ),
              h("span", {}, entityName(e.entityType), " ", recordLink(e.entityType, e.entityId)),
              `${e.actor.sub} (${roleName(e.actor.role)})`,
              e.actor.party ? roleName(e.actor.party) : t("none"),
              jurisdictionName(e.actor.jurisdiction),
              e.reason || t("none"),
            ],
          );
        },
      },
      labelled("f-actor", t("actor"), control.actor),
      labelled("f-party", t("party"), control.party),
      labelled("f-district", t("district"), control.district),
      h(
        "fieldset",
        {},
        h("legend", {}, t("entityTypes")),
        kinds.map((k) =>
          h("span", { class: "check" }, k, h("label", { for: k.id }, entityName(k.value))),
        ),
      ),
      labelled("f-entityId", t("entityId"), control.entityId),
      labelled("f-type", t("eventType"), control.type),
      labelled("f-recordedFrom", t("recordedFrom"), control.recordedFrom),
      labelled("f-recordedTo", t("recordedTo"), control.recordedTo),
      labelled("f-effectiveFrom", t("effectiveFrom"), control.effectiveFrom),
      labelled("f-effectiveTo", t("effectiveTo"), control.effectiveTo),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit" }, t("search")),
        h("button", { type: "button", class: "export", onclick: exportAll }, t("exportCsv")),
      ),
    ),
    status,
    results,
  );
}

/** The `personalDataAccess` query for `filter`, written into the document as literals (JSON
 * strings are GraphQL strings), so that it names no input type. */
function accessQuery(filter) {
  const given = Object.entries(filter).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return `query($first: Int!, $after: String) {
  personalDataAccess(filter: {${given.join(", ")}}, first: $first, after: $after) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { at actor { sub role } worker { id } fields requestId } } } }`;
}

const ACCESS_HEADINGS = () => [
  t("at"),
  t("actor"),
  t("role"),
  t("worker"),
  t("fields"),
  t("requestId"),
];

function accessRow(a) {
  return [
    shownTime(a.at),
    h("span", { class: "actor" }, a.actor.sub),
    roleName(a.actor.role),
    recordLink("WORKER", a.worker.id),
    a.fields.map((f) => fieldName(f, "WORKER")).join(", "),
    shown(a.requestId),
  ];
}

/** Who looked at personal data, filtered (`{worker, actor, from, to}`), into `box`. */
export function accessLog(box, filter, heading) {
  const results = h("div", { class: "access-results" });
  const load = async (first, after) =>
    (await gql(accessQuery(filter), { first, after })).personalDataAccess;
  put(
    box,
    h("h2", {}, heading),
    h(
      "button",
      {
        type: "button",
        class: "refresh",
        onclick: () => pager(results, load, ACCESS_HEADINGS(), accessRow),
      },
      t("refresh"),
    ),
    results,
  );
  return pager(results, load, ACCESS_HEADINGS(), accessRow);
}

export async function accessPage(main) {
  const worker = h("input", { type: "text" });
  const actor = h("input", { type: "text" });
  const from = h("input", { type: "datetime-local", step: "0.001" });
  const to = h("input", { type: "datetime-local", step: "0.001" });
  const box = h("section", { id: "access-log" });
  const run = () => {
    const filter = {};
    if (worker.value.trim()) filter.worker = worker.value.trim();
    if (actor.value.trim()) filter.actor = actor.value.trim();
    if (from.value) filter.from = instant(from.value);
    if (to.value) filter.to = instant(to.value);
    return accessLog(box, filter, t("access"));
  };
  put(
    main,
    h("h1", {}, t("access")),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          run();
        },
      },
      labelled("a-worker", t("worker"), worker),
      labelled("a-actor", t("actor"), actor),
      labelled("a-from", t("from"), from),
      labelled("a-to", t("to"), to),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("search"))),
    ),
    box,
  );
  return run();
}
