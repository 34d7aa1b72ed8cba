// Finding a record, and a record's page: its state at a chosen moment (effective date and
// recorded time) and its timeline from `history`, corrections linked to what they retract.

import { gql, instant, localInput, shownTime } from "./api.js";
import { accessLog } from "./audit.js";
import { h, put } from "./dom.js";
import {
  entityName,
  enumOf,
  eventName,
  fieldName,
  jurisdictionName,
  roleName,
  rowKeyOf,
  t,
  valueName,
} from "./i18n.js";
import {
  go,
  labelled,
  problem,
  readsAccessLog,
  recordLink,
  searchesPersonalData,
  table,
} from "./ui.js";

const TYPES = {
  Agency: "AGENCY",
  Community: "COMMUNITY",
  Station: "STATION",
  Post: "POST",
  Worker: "WORKER",
  Course: "COURSE",
  Project: "PROJECT",
};

const STATE = {
  AGENCY: `agency(id: $id, asOf: $asOf) { __typename id version status name creditCode
    district { name } kind fields registeredOn incubation { incubator from to }
    demonstration { programme year } updatedAt }`,
  STATION: `station(id: $id, asOf: $asOf) { __typename id version status name district { name }
    establishedOn community { __typename code name urban } operator { __typename id name }
    operatorContract { from to } assessment { assessedOn hardware duties mechanism funding
    serviceStandards performance } demonstration { programme year }
    staff { fullTime since worker { __typename id name } } posts { __typename id status sector }
    updatedAt }`,
  POST: `post(id: $id, asOf: $asOf) { __typename id version status sector field district { name }
    hostOrganization origin createdOn community { __typename code name }
    station { __typename id name } holder { __typename id name } updatedAt }`,
  WORKER: `worker(id: $id, asOf: $asOf) { __typename id version status district { name } education
    registeredOn personalDataErased name idNumber employer { __typename id name }
    posts { __typename id sector } certificates { level number awardedOn revoked }
    attendances { effectiveOn hours passed course { __typename id title } } updatedAt }`,
  COURSE: `course(id: $id, asOf: $asOf) { __typename id version status title category level
    district { name } startsOn endsOn hours attendanceCount scheduledOn completedOn cancelledOn
    deliveredBy { __typename id name } attendances { effectiveOn hours passed
    worker { __typename id name } } updatedAt }`,
  PROJECT: `project(id: $id, asOf: $asOf) { __typename id version status title field
    district { name } funder budget programme startsOn endsOn approvedOn disbursed
    progress { percentComplete summary reportedOn } evaluation { evaluator commissionedOn score
    grade concludedOn } contractor { __typename id name }
    disbursements { amount effectiveOn position recordedAt } updatedAt }`,
};

const COMMUNITY = `query($code: String!, $asOf: AsOf) {
  community(code: $code, asOf: $asOf) { __typename id version code name district { name } urban
    updatedAt }
  stations(first: 5, filter: { community: $code }, asOf: $asOf) {
    edges { node { __typename id name status } } } }`;

const HISTORY = `query($id: ID!) { history(id: $id) { position type version recordedAt
  effectiveOn reason retracts requestId correlationId actor { sub party role jurisdiction }
  data changes { field before after } } }`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COMMUNITY_CODE = /^\d{12}$/;
const CREDIT_CODE = /^[0-9A-HJ-NPQRTUWXY]{18}$/;
const AGENCIES_SEARCHED = 500;
const WORKERS_FOUND = 20;

// --- search ---------------------------------------------------------------------------

async function find(q) {
  if (UUID.test(q)) {
    const data = await gql(
      `query($id: ID!) { AGENCY: agency(id: $id) { id name }
      STATION: station(id: $id) { id name } POST: post(id: $id) { id hostOrganization }
      WORKER: worker(id: $id) { id } COURSE: course(id: $id) { id title }
      PROJECT: project(id: $id) { id title } }`,
      { id: q },
    );
    const found = Object.entries(data)
      .filter(([, r]) => r)
      .map(([type, r]) => ({
        type,
        id: r.id,
        name: r.name || r.title || r.hostOrganization || r.id,
      }));
    return { found };
  }
  if (COMMUNITY_CODE.test(q)) {
    const data = await gql(COMMUNITY, { code: q, asOf: null });
    const found = data.community ? [{ type: "COMMUNITY", id: q, name: data.community.name }] : [];
    for (const { node } of data.stations.edges)
      found.push({ type: "STATION", id: node.id, name: node.name });
    return { found };
  }
  // Workers by name or ID number (exact, the hub's blind index), for roles that may see them.
  const workers = searchesPersonalData()
    ? `byName: workers(first: ${WORKERS_FOUND}, filter: { name: $q }) { edges { node { id name } } }
    byNumber: workers(first: ${WORKERS_FOUND}, filter: { idNumber: $q }) {
      edges { node { id name } } }`
    : "";
  const data = await gql(
    `query($q: String!, $first: Int!) {
    agencies(first: $first) { totalCount edges { node { id name creditCode } } }
    communities(first: 20, filter: { nameContains: $q }) { edges { node { code name } } }
    ${workers} }`,
    { q, first: AGENCIES_SEARCHED },
  );
  const wanted = q.toUpperCase();
  const found = data.agencies.edges
    .map((e) => e.node)
    .filter((a) => (CREDIT_CODE.test(wanted) ? a.creditCode === wanted : a.name.includes(q)))
    .map((a) => ({ type: "AGENCY", id: a.id, name: `${a.name}（${a.creditCode}）` }));
  const seen = new Set();
  for (const { node } of [...(data.byName?.edges || []), ...(data.byNumber?.edges || [])]) {
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    found.push({ type: "WORKER", id: node.id, name: node.name || node.id });
  }
  const communities = data.communities.edges.map((e) => e.node);
  if (communities.length) {
    const aliases = communities.map(
      (c, n) =>
        `s${n}: stations(first: 1, filter: { community: ${JSON.stringify(c.code)} }) { edges { node { id name } } }`,
    );
    const stations = await gql(`{ ${aliases.join(" ")} }`);
    communities.forEach((c, n) => {
      found.push({ type: "COMMUNITY", id: c.code, name: `${c.name}（${c.code}）` });
      for (const { node } of stations[`s${n}`].edges)
        found.push({ type: "STATION", id: node.id, name: node.name });
    });
  }
  const total = data.agencies.totalCount;
  const notes = [
    total > AGENCIES_SEARCHED ? t("searchedFirst", AGENCIES_SEARCHED, total) : null,
    searchesPersonalData() && !readsAccessLog() ? t("workersSearchedWithin") : null,
  ].filter(Boolean);
  return { found, note: notes.join(" ") || null };
}

export async function searchPage(main, _parts, params) {
  const q = params.get("q") || "";
  const input = h("input", { type: "search", value: q, required: true, autocomplete: "off" });
  const results = h("section", { id: "results", "aria-label": t("search") });
  put(
    main,
    h("h1", {}, t("navSearch")),
    h(
      "form",
      {
        class: "search",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          go("/search", { q: input.value.trim() });
        },
      },
      labelled("q", t("searchLabel"), input),
      h("button", { type: "submit" }, t("search")),
    ),
    results,
  );
  if (!q) return;
  put(results, h("p", {}, t("searching")));
  try {
    const { found, note } = await find(q);
    put(
      results,
      found.length
        ? h(
            "ul",
            { class: "results" },
            found.map((r) =>
              h(
                "li",
                {},
                h("span", { class: "type" }, entityName(r.type)),
                " ",
                recordLink(r.type, r.id, r.name),
              ),
            ),
          )
        : h("p", {}, t("noResults")),
      note ? h("p", { class: "hint" }, note) : null,
    );
  } catch (error) {
    put(results, problem(error));
  }
}

// --- a record's state -----------------------------------------------------------------

function refLink(value) {
  const type = TYPES[value.__typename];
  const key = type === "COMMUNITY" ? value.code : value.id;
  const label = value.name || value.title || key;
  return h(
    "span",
    {},
    recordLink(type, key, label),
    value.__typename === "Worker" && value.name === null ? ` ${t("hidden")}` : null,
  );
}

/** A scalar of a record at `path` as the chosen language says it: an enum value by its
 * name, yes or no. */
function scalar(type, path, value) {
  if (value === null || value === undefined) return t("none");
  if (typeof value === "boolean") return t(value ? "yes" : "no");
  const name = enumOf(type, path);
  return name ? valueName(name, value) : String(value);
}

/** A value of a record of `type` at `path`: links for the records it names, lists and nested
 * fields. */
function rendered(value, type, path) {
  if (value === null || value === undefined) return t("none");
  if (Array.isArray(value)) {
    return value.length
      ? h(
          "ul",
          {},
          value.map((item) => h("li", {}, rendered(item, type, path))),
        )
      : t("none");
  }
  if (typeof value === "object") {
    if (value.__typename in TYPES && (value.id || value.code)) {
      const rest = Object.entries(value).filter(
        ([k]) => !["__typename", "id", "code", "name", "title"].includes(k),
      );
      return rest.length
        ? h("span", {}, refLink(value), " ", fields(Object.fromEntries(rest), type, path))
        : refLink(value);
    }
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "name") return value.name;
    return fields(value, type, path);
  }
  return scalar(type, path, value);
}

/** A record's (or a nested object's, at `path`) fields, each under its name. */
function fields(record, type, path = "") {
  return h(
    "dl",
    { class: "fields" },
    Object.entries(record)
      .filter(([k]) => k !== "__typename")
      .map(([k, v]) => {
        const at = path ? `${path}.${k}` : k;
        return [
          h("dt", {}, fieldName(at, type)),
          h("dd", { dataset: { field: k } }, rendered(v, type, at)),
        ];
      }),
  );
}

/** One entry of an event's `changes`: the field's name, its value before and after. A related
 * row (`certificates/<level>/<number>`) is named by its list field and key, its rows shown
 * field by field. */
function changeRow(type, change) {
  const [list, ...key] = change.field.split("/");
  const names = rowKeyOf(type, list);
  const keyShown = key.map((part, n) =>
    names[n] ? scalar(type, `${list}.${names[n]}`, part) : part,
  );
  const side = (value) =>
    key.length && value && typeof value === "object"
      ? h(
          "dl",
          { class: "fields row" },
          Object.entries(value).map(([k, v]) => [
            h("dt", {}, fieldName(`${list}.${k}`, type)),
            h("dd", {}, scalar(type, `${list}.${k}`, v)),
          ]),
        )
      : rendered(value, type, list);
  return [
    h(
      "span",
      { title: change.field },
      fieldName(list, type),
      key.length ? ` ${keyShown.join(" / ")}` : "",
    ),
    h("del", {}, side(change.before)),
    h("ins", {}, side(change.after)),
  ];
}

async function drawState(box, type, key, asOf) {
  put(box, h("p", {}, t("loading")));
  try {
    let record;
    let extra = null;
    if (type === "COMMUNITY") {
      const data = await gql(COMMUNITY, { code: key, asOf });
      record = data.community;
      extra = data.stations.edges.map((e) => e.node);
    } else {
      record = (
        await gql(`query($id: ID!, $asOf: AsOf) { record: ${STATE[type]} }`, { id: key, asOf })
      ).record;
    }
    const heading = asOf ? t("stateAsOf") : t("state");
    put(
      box,
      h("h2", {}, heading),
      record ? fields(record, type) : h("p", { class: "hint" }, t("notThen")),
      extra && extra.length ? rendered(extra, type, "stations") : null,
    );
    return record;
  } catch (error) {
    put(box, h("h2", {}, t("state")), problem(error));
    return null;
  }
}

// --- a record's timeline --------------------------------------------------------------

/** Which events stand retracted: one retracted by a retraction that itself stands. */
function retractedBy(events) {
  const by = new Map();
  for (const event of [...events].reverse()) {
    if (by.has(event.position)) continue; // retracted itself: what it retracted stands
    for (const position of event.retracts) if (!by.has(position)) by.set(position, event.position);
  }
  return by;
}

/** An instant rounded up to the millisecond, so that a moment shown to the millisecond
 * includes it. */
function justAfter(iso) {
  const fraction = (iso.match(/\.(\d+)/) || ["", ""])[1];
  const when = new Date(iso);
  if (fraction.slice(3).replace(/0/g, "")) when.setMilliseconds(when.getMilliseconds() + 1);
  return when.toISOString();
}

function eventItem(type, event, by, pick) {
  const retracted = by.get(event.position);
  const erasure = /Erased$/.test(event.type);
  const anchor = (position) =>
    h(
      "a",
      {
        href: `#ev-${position}`,
        class: "event-link",
        onclick: (e) => {
          e.preventDefault();
          document.getElementById(`ev-${position}`)?.scrollIntoView();
        },
      },
      `#${position}`,
    );
  const actor = event.actor;
  return h(
    "li",
    {
      id: `ev-${event.position}`,
      class: ["event", retracted ? "retracted" : "", erasure ? "erasure" : ""].join(" ").trim(),
      dataset: { position: event.position, type: event.type },
    },
    h(
      "h3",
      {},
      h(
        "span",
        { class: "what", title: event.type },
        `#${event.position} ${eventName(event.type)}`,
      ),
      retracted
        ? h("span", { class: "badge retracted-badge" }, t("retractedBy"), " ", anchor(retracted))
        : null,
      event.retracts.length
        ? h(
            "span",
            { class: "badge corrects" },
            t("retracts"),
            " ",
            event.retracts.map((p) => [anchor(p), " "]),
          )
        : null,
      erasure ? h("span", { class: "badge erasure-badge" }, t("erasure")) : null,
      event.data?.personalDataErased ? h("span", { class: "badge erased" }, t("erased")) : null,
      event.data?.personalDataRedacted
        ? h("span", { class: "badge redacted" }, t("redacted"))
        : null,
    ),
    h(
      "dl",
      { class: "fields meta" },
      h("dt", {}, t("recordedAt")),
      h("dd", { class: "recorded" }, shownTime(event.recordedAt)),
      h("dt", {}, t("effectiveOn")),
      h("dd", { class: "effective" }, event.effectiveOn),
      h("dt", {}, t("actor")),
      h("dd", { class: "actor" }, `${actor.sub} (${roleName(actor.role)})`),
      h("dt", {}, t("party")),
      h("dd", {}, actor.party ? roleName(actor.party) : t("none")),
      h("dt", {}, t("jurisdiction")),
      h("dd", {}, jurisdictionName(actor.jurisdiction)),
      h("dt", {}, t("reason")),
      h("dd", { class: "reason" }, event.reason || t("none")),
      h("dt", {}, t("requestId")),
      h("dd", {}, event.requestId || t("none")),
    ),
    event.changes && event.changes.length
      ? table(
          t("changes"),
          [t("field"), t("before"), t("after")],
          event.changes.map((c) => changeRow(type, c)),
          { class: "changes" },
        )
      : null,
    h(
      "details",
      {},
      h("summary", {}, t("data")),
      h("pre", {}, JSON.stringify(event.data, null, 2)),
    ),
    h(
      "button",
      { type: "button", class: "as-then", onclick: () => pick(justAfter(event.recordedAt)) },
      t("asRecordedThen"),
    ),
  );
}

export async function recordPage(main, parts, params) {
  const [type, key] = parts;
  if (!(type in STATE) && type !== "COMMUNITY") return searchPage(main, [], params);
  if (type === "COMMUNITY" && UUID.test(key)) {
    // The log names a community by its record id; its page goes by its code.
    const listed = (await gql(HISTORY, { id: key })).history[0];
    if (listed) return go(`/record/COMMUNITY/${encodeURIComponent(listed.data.code)}`);
  }
  const effective = h("input", { type: "date", value: params.get("effective") || "" });
  const recorded = h("input", {
    type: "datetime-local",
    step: "0.001",
    value: params.get("recorded") || "",
  });
  const stateBox = h("section", { id: "state", class: "state" });
  const timelineBox = h(
    "section",
    { id: "timeline", class: "timeline" },
    h("h2", {}, t("timeline")),
    h("p", {}, t("loading")),
  );
  const title = h("span", { class: "title" });
  const accessBox =
    type === "WORKER" && readsAccessLog() ? h("section", { id: "access-log" }) : null;

  const moment = () => {
    const asOf = {};
    if (effective.value) asOf.effective = effective.value;
    if (recorded.value) asOf.recorded = instant(recorded.value);
    return Object.keys(asOf).length ? asOf : null;
  };
  const redraw = () => {
    const query = new URLSearchParams(
      Object.entries({ effective: effective.value, recorded: recorded.value }).filter(([, v]) => v),
    );
    history.replaceState(
      null,
      "",
      `#/record/${type}/${encodeURIComponent(key)}${query.size ? `?${query}` : ""}`,
    );
    return drawState(stateBox, type, key, moment());
  };
  const pick = (iso) => {
    recorded.value = localInput(iso);
    redraw();
  };
  effective.addEventListener("change", redraw);
  recorded.addEventListener("change", redraw);

  put(
    main,
    h("h1", {}, h("span", { class: "type" }, entityName(type)), " ", title, " ", h("code", {}, key)),
    h(
      "form",
      {
        class: "pickers",
        onsubmit: (e) => {
          e.preventDefault();
          redraw();
        },
      },
      labelled("effective", t("effectivePicker"), effective),
      labelled("recorded", t("recordedPicker"), recorded),
      h(
        "button",
        {
          type: "button",
          class: "now",
          onclick: () => {
            effective.value = "";
            recorded.value = "";
            redraw();
          },
        },
        t("now"),
      ),
    ),
    h("div", { class: "record" }, stateBox, timelineBox),
    accessBox,
  );

  const record = await drawState(stateBox, type, key, moment());
  if (record) title.textContent = record.name || record.title || record.hostOrganization || "";
  let id = key;
  if (type === "COMMUNITY") {
    const now =
      record && !moment() ? record : (await gql(COMMUNITY, { code: key, asOf: null })).community;
    if (!now) return put(timelineBox, h("h2", {}, t("timeline")), h("p", {}, t("noResults")));
    id = now.id;
  }
  try {
    const events = (await gql(HISTORY, { id })).history;
    const by = retractedBy(events);
    put(
      timelineBox,
      h("h2", {}, t("timeline")),
      h(
        "ol",
        { class: "events" },
        events.map((e) => eventItem(type, e, by, pick)),
      ),
    );
  } catch (error) {
    put(timelineBox, h("h2", {}, t("timeline")), problem(error));
  }
  if (accessBox) accessLog(accessBox, { worker: key }, t("accessOfWorker"));
}
