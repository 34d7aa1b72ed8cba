// Line charts drawn as SVG (no chart library): one or more series over dates, an optional
// target line; the same numbers go in a table beside each chart (see dashboard.js).

import { s } from "./dom.js";
import { number, t } from "./i18n.js";

const WIDTH = 640;
const HEIGHT = 260;
const M = { top: 16, right: 16, bottom: 28, left: 72 };
const COLOURS = ["#1f5fa8", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0f766e"];

/** An SVG chart of `series` ([{name, values}]) over `dates`, with `target` ({value, due}) if
 * given, values in `unit` ("%" or none); `label` names it for assistive technology (the table
 * beside it has the numbers). */
export function lineChart(label, dates, series, target, unit = "") {
  const values = series
    .flatMap((x) => x.values)
    .map(Number)
    .filter(Number.isFinite);
  const top = Math.max(1, ...values, target ? Number(target.value) : 0) * 1.08;
  const x = (i) =>
    M.left + (dates.length < 2 ? 0 : (i * (WIDTH - M.left - M.right)) / (dates.length - 1));
  const y = (v) => HEIGHT - M.bottom - (Number(v) / top) * (HEIGHT - M.top - M.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * top));
  const every = Math.max(1, Math.ceil(dates.length / 8));
  return s(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": label },
    s("title", {}, label),
    ticks.map((v) => [
      s("line", { x1: M.left, x2: WIDTH - M.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: M.left - 6, y: y(v) + 4, class: "tick y" }, `${number(v)}${unit}`),
    ]),
    dates.map((d, i) =>
      i % every === 0 || i === dates.length - 1
        ? s("text", { x: x(i), y: HEIGHT - 8, class: "tick x" }, d.slice(0, 7))
        : null,
    ),
    target
      ? [
          s("line", {
            x1: M.left,
            x2: WIDTH - M.right,
            y1: y(target.value),
            y2: y(target.value),
            class: "target",
          }),
          s(
            "text",
            { x: WIDTH - M.right, y: y(target.value) - 4, class: "target-label" },
            `${t("target")} ${number(target.value)}${unit} (${target.due})`,
          ),
        ]
      : null,
    series.map((line, n) =>
      s(
        "polyline",
        {
          class: "series",
          stroke: COLOURS[n % COLOURS.length],
          points: line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
        },
        s("title", {}, line.name),
      ),
    ),
  );
}
