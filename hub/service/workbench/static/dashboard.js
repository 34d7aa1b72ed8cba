// The city's progress against its plan: the indicators for the city or one district as of a
// date, charts over time (`indicatorSeries`) against the `targets`, each with its numbers in a
// table beside it, and a sortable table of the 38 districts.

import { gql } from "./api.js";
import { lineChart } from "./chart.js";
import { h, put } from "./dom.js";
import { fieldName, number, t, valueName } from "./i18n.js";
import { go, labelled, problem, table } from "./ui.js";

const FIGURES = [
  "workers",
  "certifiedWorkers",
  "agencies",
  "demonstrationAgencies",
  "stations",
  "demonstrationStations",
  "stationsFullyStaffed",
  "posts",
  "filledPosts",
  "trainingPersonTimes",
  "projects",
  "fundsDisbursed",
  "urbanCommunities",
  "urbanCommunitiesOnTarget",
  "ruralCommunities",
  "ruralCommunitiesOnTarget",
];
const BREAKDOWNS = {
  certificatesByLevel: "level",
  postsBySector: "sector",
  projectsByField: "field",
  trainingByCategory: "category",
};
/** The enum each breakdown's key holds. */
const BREAKDOWN_ENUMS = {
  certificatesByLevel: "CertificateLevel",
  postsBySector: "PostSector",
  projectsByField: "ServiceField",
  trainingByCategory: "CourseCategory",
};
const CHARTS = [
  "workers",
  "certifiedWorkers",
  "urbanCommunitiesOnTarget",
  "ruralCommunitiesOnTarget",
  "demonstrationStations",
  "demonstrationAgencies",
  "certificatesByLevel",
  "trainingPersonTimes",
  "projects",
  "fundsDisbursed",
];
const SHARES = {
  urbanCommunitiesOnTarget: "urbanCommunities",
  ruralCommunitiesOnTarget: "ruralCommunities",
};
/** Indicators whose target is a percentage: of the communities of their kind (`targets`). */
const DISTRICT_COLUMNS = [
  "workers",
  "certifiedWorkers",
  "agencies",
  "stations",
  "posts",
  "trainingPersonTimes",
  "projects",
  "fundsDisbursed",
];
const SELECTION = `${FIGURES.join(" ")} ${Object.entries(BREAKDOWNS)
  .map(([k, v]) => `${k} { ${v} count }`)
  .join(" ")}`;
const SERIES_FROM = "2008-01-01";

function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function figures(found) {
  return h(
    "div",
    { class: "figures" },
    FIGURES.map((name) =>
      h(
        "div",
        { class: "figure", dataset: { indicator: name } },
        h("span", { class: "label" }, t(name)),
        h("span", { class: "value" }, number(found[name])),
      ),
    ),
  );
}

function breakdowns(found) {
  return h(
    "div",
    { class: "breakdowns" },
    Object.entries(BREAKDOWNS).map(([name, key]) =>
      table(
        t(name),
        [fieldName(key), t("value")],
        found[name].map((r) => [valueName(BREAKDOWN_ENUMS[name], r[key]), number(r.count)]),
        { dataset: { indicator: name } },
      ),
    ),
  );
}

async function charts(box, on, every, district) {
  put(box, h("h2", {}, t("charts")), h("p", {}, t("loading")));
  let points;
  let targets;
  try {
    const data = await gql(
      `query($from: Date!, $to: Date!, $district: String) {
      targets { indicator value due source }
      indicatorSeries(from: $from, to: $to, every: ${every}, district: $district) {
        on indicators { ${CHARTS.map((c) => (c in BREAKDOWNS ? `${c} { ${BREAKDOWNS[c]} count }` : c)).join(" ")}
          ${Object.values(SHARES).join(" ")} } } }`,
      { from: SERIES_FROM, to: on, district: district || null },
    );
    points = data.indicatorSeries;
    targets = data.targets;
  } catch (error) {
    return put(box, h("h2", {}, t("charts")), problem(error));
  }
  const dates = points.map((p) => p.on);
  put(
    box,
    h("h2", {}, t("charts")),
    CHARTS.map((name) => {
      let series;
      let columns;
      if (name in SHARES) {
        const of = SHARES[name];
        const share = (p) =>
          p.indicators[of] ? Math.round((1000 * p.indicators[name]) / p.indicators[of]) / 10 : 0;
        series = [{ name: `${t(name)} (%)`, values: points.map(share) }];
        columns = [
          { name: t(name), values: points.map((p) => p.indicators[name]) },
          { name: t(of), values: points.map((p) => p.indicators[of]) },
          { name: "%", values: series[0].values },
        ];
      } else if (name in BREAKDOWNS) {
        const keys = [
          ...new Set(points.flatMap((p) => p.indicators[name].map((r) => r[BREAKDOWNS[name]]))),
        ];
        series = keys.map((k) => ({
          name: valueName(BREAKDOWN_ENUMS[name], k),
          values: points.map(
            (p) => p.indicators[name].find((r) => r[BREAKDOWNS[name]] === k)?.count ?? 0,
          ),
        }));
      } else {
        series = [{ name: t(name), values: points.map((p) => p.indicators[name]) }];
      }
      columns = columns || series;
      // A percentage holds for a district as for the city; a count is the city's.
      const target =
        district && !(name in SHARES) ? null : targets.find((x) => x.indicator === name);
      const unit = name in SHARES ? "%" : "";
      return h(
        "figure",
        { class: "chart-box", dataset: { indicator: name } },
        h(
          "figcaption",
          {},
          t(name),
          target
            ? h(
                "span",
                { class: "source" },
                ` · ${t("target")} ${number(target.value)}${unit}（${target.due}）: ${target.source}`,
              )
            : null,
        ),
        lineChart(t(name), dates, series, target, unit),
        h(
          "div",
          { class: "chart-table" },
          table(
            t("chartTable", t(name)),
            [t("onDate"), ...columns.map((x) => x.name)],
            dates.map((d, i) => [d, ...columns.map((x) => number(x.values[i]))]),
          ),
        ),
      );
    }),
  );
}

async function districtTable(box, on, every) {
  const districts = (await gql("{ districts { code name } }")).districts;
  const aliases = districts.map(
    (d) =>
      `d${d.code}: indicators(district: ${JSON.stringify(d.code)}, asOf: { effective: $on }) { ${DISTRICT_COLUMNS.join(" ")} }`,
  );
  const data = await gql(`query($on: Date!) { ${aliases.join(" ")} }`, { on });
  const rows = districts.map((d) => ({ ...d, ...data[`d${d.code}`] }));
  let by = "name";
  let up = true;
  const body = h("tbody");
  const headings = ["name", ...DISTRICT_COLUMNS];
  const heads = headings.map((name) =>
    h(
      "th",
      { scope: "col", "aria-sort": "none" },
      h(
        "button",
        {
          type: "button",
          class: "sort",
          dataset: { column: name },
          title: t("sortBy", t(name === "name" ? "district" : name)),
          onclick: () => {
            up = by === name ? !up : name === "name";
            by = name;
            draw();
          },
        },
        t(name === "name" ? "district" : name),
      ),
    ),
  );
  const draw = () => {
    const key = (r) => (by === "name" ? r.code : Number(r[by]));
    rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (up ? 1 : -1));
    heads.forEach((th, i) =>
      th.setAttribute("aria-sort", headings[i] === by ? (up ? "ascending" : "descending") : "none"),
    );
    put(
      body,
      rows.map((r) =>
        h(
          "tr",
          { dataset: { district: r.code } },
          h(
            "th",
            { scope: "row" },
            h("a", { href: `#/dashboard?district=${r.code}&on=${on}&every=${every}` }, r.name),
          ),
          DISTRICT_COLUMNS.map((c) => h("td", { dataset: { column: c } }, number(r[c]))),
        ),
      ),
    );
  };
  draw();
  put(
    box,
    h(
      "table",
      { id: "districts", class: "districts" },
      h("caption", {}, t("districtsTable")),
      h("thead", {}, h("tr", {}, heads)),
      body,
    ),
  );
}

export async function dashboardPage(main, _parts, params) {
  const on = params.get("on") || today();
  const district = params.get("district") || "";
  const every = ["MONTH", "QUARTER", "YEAR"].includes(params.get("every"))
    ? params.get("every")
    : "YEAR";
  const districts = (await gql("{ districts { code name } }")).districts;
  const which = h(
    "select",
    {},
    h("option", { value: "" }, t("city")),
    districts.map((d) => h("option", { value: d.code, selected: d.code === district }, d.name)),
  );
  const date = h("input", { type: "date", value: on, required: true });
  const period = h(
    "select",
    {},
    ["YEAR", "QUARTER", "MONTH"].map((p) =>
      h("option", { value: p, selected: p === every }, valueName("Period", p)),
    ),
  );
  const figuresBox = h("section", { id: "indicators" }, h("p", {}, t("loading")));
  const chartsBox = h("section", { id: "charts" });
  const districtsBox = h("section", { id: "district-table" });
  const named = district ? districts.find((d) => d.code === district)?.name || district : t("city");
  put(
    main,
    h("h1", {}, t("dashboard"), " · ", h("span", { id: "scope" }, named), " · ", on),
    h(
      "form",
      {
        class: "pickers",
        onsubmit: (e) => {
          e.preventDefault();
          go("/dashboard", { district: which.value, on: date.value, every: period.value });
        },
      },
      labelled("d-district", t("district"), which),
      labelled("d-on", t("asOfDate"), date),
      labelled("d-every", t("every"), period),
      h("button", { type: "submit" }, t("show")),
    ),
    figuresBox,
    chartsBox,
    district ? null : districtsBox,
  );
  const shown = (async () => {
    try {
      const found = (
        await gql(
          `query($on: Date!, $district: String) {
        indicators(asOf: { effective: $on }, district: $district) { ${SELECTION} } }`,
          { on, district: district || null },
        )
      ).indicators;
      put(
        figuresBox,
        h("h2", {}, t("indicators")),
        figures(found),
        h("h3", {}, t("breakdowns")),
        breakdowns(found),
      );
    } catch (error) {
      put(figuresBox, problem(error));
    }
  })();
  const table38 = district
    ? null
    : districtTable(districtsBox, on, every).catch((error) => put(districtsBox, problem(error)));
  await Promise.all([shown, charts(chartsBox, on, every, district), table38]);
}
