"""The indicators the bureau reports, counted from the bitemporal tables at one moment,
city-wide or for one district.

What each figure counts:
- workers: registered workers; certified workers: those holding an unrevoked certificate;
  certificates by level: unrevoked certificates.
- agencies and demonstration agencies: not deregistered.
- stations, demonstration stations, stations with 2+ full-time staff: open ones.
- posts and posts by sector: not abolished; filled posts: holding a worker.
- training person-times: attendances at courses not cancelled, by the course's category; for
  a district, attendances of the district's workers.
- projects and projects by field: every approved project; funds disbursed: their sum.
- communities on target (the 2020 target): urban ones with 2+ social workers, rural ones with
  1+, counting the distinct workers on the staff of the community's open station or holding a
  post in the community.

Every figure, at one moment or at many days (`indicatorSeries`), comes from one statement, so
a series of N points is one round trip, not N: at one moment each table is read under the
visibility of that day (`_statement`); for many days the sums over rows come from each
version's interval once and only the figures that count groups join the days
(`_series_statement`). `tests/test_indicator_series.py` holds each point to `indicators`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from hub.projections.timeline import EVERYTHING, Moment


def _groups(v: Callable[[str], str], only: Callable[[str], str]) -> str:
    """The CTEs of the figures that count groups on each day `m.day`, which no sum over rows
    gives: each station's full-time staff (`ff`), and the communities on target (`co`)."""
    return f"""ff AS (SELECT m.day, st.station_id, count(*) AS n
               FROM m JOIN station_staff st ON {v("st")} AND st.full_time
               GROUP BY m.day, st.station_id),
        people AS (
            SELECT m.day, s.community, st.worker_id FROM m JOIN station_staff st ON {v("st")}
            JOIN stations s ON s.id = st.station_id AND {v("s")} AND s.status = 'OPEN'
            UNION
            SELECT m.day, p.community, p.holder FROM m JOIN posts p
            ON {v("p")} AND p.status = 'FILLED' AND p.community IS NOT NULL),
        per AS (SELECT day, community, count(*) AS n FROM people GROUP BY day, community),
        co AS (SELECT m.day, count(*) FILTER (WHERE c.urban) AS urban,
                      count(*) FILTER (WHERE c.urban AND coalesce(per.n, 0) >= 2) AS urban_on,
                      count(*) FILTER (WHERE NOT c.urban) AS rural,
                      count(*) FILTER (WHERE NOT c.urban AND coalesce(per.n, 0) >= 1) AS rural_on
               FROM m JOIN communities c ON {v("c")} {only("c")}
               LEFT JOIN per ON per.day = m.day AND per.community = c.code
               GROUP BY m.day)"""


def _statement(now: bool, district: bool, one: bool = False) -> str:
    """The statement giving every figure for each day of `$1` (a date array) as recorded by
    position `$2` (`now`: the current rows, `$1` holding only today, no `$2`), for the
    district of the last parameter. `one`: `$1` holds one day, which the conditions name
    as a parameter rather than as a column of the days, so the planner plans for that day
    as it would with a constant."""
    place = "$2" if now else "$3"
    day = "($1::date[])[1]" if one else "m.day"

    def v(alias: str, ranged: bool = False) -> str:
        """The versions of `alias` holding on the day `day` (as `visible` in timeline.py)."""
        a = f"{alias}."
        if now:
            return f"{a}effective_to IS NULL AND {a}recorded_to IS NULL"
        if ranged:  # the GiST index of migration 009
            return (
                f"daterange({a}effective_from, {a}effective_to) @> {day}"
                f" AND int8range({a}recorded_from, {a}recorded_to) @> $2::bigint"
            )
        return (
            f"{a}effective_from <= {day} AND ({a}effective_to IS NULL OR {a}effective_to > {day})"
            f" AND {a}recorded_from <= $2 AND ({a}recorded_to IS NULL OR {a}recorded_to > $2)"
        )

    def only(alias: str) -> str:
        return f"AND {alias}.district = {place}" if district else ""

    theirs = f"JOIN workers w ON w.id = c.worker_id AND {v('w')} {only('w')}"
    training = (
        f"""SELECT m.day, c.category, count(*) AS n FROM m
            JOIN workers w ON {v("w")} {only("w")}
            JOIN course_attendances a ON a.worker_id = w.id AND {v("a")}
            JOIN courses c ON c.id = a.course_id AND {v("c")} AND c.status <> 'CANCELLED'
            GROUP BY m.day, c.category"""
        if district
        # city-wide, each course's own count of its attendances is enough
        else f"""SELECT m.day, c.category, sum(c.attendance_count) AS n FROM m
            JOIN courses c ON {v("c", ranged=True)} AND c.status <> 'CANCELLED'
            GROUP BY m.day, c.category"""
    )
    return f"""
        WITH m AS (SELECT DISTINCT unnest($1::date[]) AS day),
        wk AS (SELECT m.day, count(*) AS n FROM m JOIN workers w ON {v("w")} {only("w")}
               GROUP BY m.day),
        ce AS (SELECT m.day, c.level, grouping(c.level) AS total, count(*) AS n,
                      count(DISTINCT c.worker_id) AS holders
               FROM m JOIN worker_certificates c ON {v("c")} AND NOT c.revoked
               {theirs if district else ""}
               GROUP BY m.day, ROLLUP (c.level)),
        ag AS (SELECT m.day, count(*) AS n,
                      count(*) FILTER (WHERE a.demonstration_programme IS NOT NULL) AS demo
               FROM m JOIN agencies a ON {v("a")} AND a.status <> 'DEREGISTERED' {only("a")}
               GROUP BY m.day),
        {_groups(v, only)},
        sn AS (SELECT m.day, count(*) AS n,
                      count(*) FILTER (WHERE s.demonstration_programme IS NOT NULL) AS demo,
                      count(*) FILTER (WHERE coalesce(ff.n, 0) >= 2) AS staffed
               FROM m JOIN stations s ON {v("s")} AND s.status = 'OPEN' {only("s")}
               LEFT JOIN ff ON ff.day = m.day AND ff.station_id = s.id
               GROUP BY m.day),
        po AS (SELECT m.day, p.sector, count(*) AS n,
                      count(*) FILTER (WHERE p.status = 'FILLED') AS filled
               FROM m JOIN posts p ON {v("p")} AND p.status <> 'ABOLISHED' {only("p")}
               GROUP BY m.day, p.sector),
        tr AS ({training}),
        pr AS (SELECT m.day, p.field, count(*) AS n FROM m JOIN projects p ON {v("p")} {only("p")}
               GROUP BY m.day, p.field),
        fu AS (SELECT m.day, sum(d.amount) AS amount
               FROM m JOIN projects p ON {v("p")} {only("p")}
               JOIN project_disbursements d ON d.project_id = p.id AND {v("d")}
               GROUP BY m.day)
        SELECT m.day,
            coalesce(wk.n, 0) AS workers,
            (SELECT coalesce(max(holders) FILTER (WHERE total = 1), 0) FROM ce
             WHERE ce.day = m.day) AS certified_workers,
            (SELECT jsonb_object_agg(level, n) FILTER (WHERE total = 0) FROM ce
             WHERE ce.day = m.day) AS certificates_by_level,
            coalesce(ag.n, 0) AS agencies, coalesce(ag.demo, 0) AS demonstration_agencies,
            coalesce(sn.n, 0) AS stations, coalesce(sn.demo, 0) AS demonstration_stations,
            coalesce(sn.staffed, 0) AS stations_fully_staffed,
            (SELECT jsonb_build_object('n', sum(n), 'filled', sum(filled),
                                       'by', jsonb_object_agg(sector, n))
             FROM po WHERE po.day = m.day) AS posts,
            (SELECT jsonb_build_object('n', sum(n), 'by', jsonb_object_agg(category, n))
             FROM tr WHERE tr.day = m.day) AS training,
            (SELECT jsonb_build_object('n', sum(n), 'by', jsonb_object_agg(field, n))
             FROM pr WHERE pr.day = m.day) AS projects,
            coalesce(fu.amount, 0)::numeric(14, 2) AS funds_disbursed,
            coalesce(co.urban, 0) AS urban_communities,
            coalesce(co.urban_on, 0) AS urban_communities_on_target,
            coalesce(co.rural, 0) AS rural_communities,
            coalesce(co.rural_on, 0) AS rural_communities_on_target
        FROM m LEFT JOIN wk USING (day) LEFT JOIN ag USING (day) LEFT JOIN sn USING (day)
        LEFT JOIN fu USING (day) LEFT JOIN co USING (day)
        ORDER BY m.day"""


def _series_statement(district: bool) -> str:
    """`_statement` for many days (`$1`, sorted), as recorded by position `$2`, for the
    district `$3`: the figures that are sums over rows (workers, agencies, posts by
    sector...) come from each version's interval once, whatever the number of days, not from
    a join of every day with every version (which grows with days × rows).

    A version adds its weight from the first day on or after its `effective_from` and takes
    it back from the first on or after its `effective_to`; the changes are summed by day
    (`width_bucket` over the days), then each day's figure is the running sum up to it.
    Rows joined (a disbursement and its project) count for the days both hold on.
    """

    def v(alias: str) -> str:
        a = f"{alias}."
        return (
            f"{a}effective_from <= m.day AND ({a}effective_to IS NULL OR {a}effective_to > m.day)"
            f" AND {said(alias)}"
        )

    def said(alias: str) -> str:
        a = f"{alias}."
        return f"{a}recorded_from <= $2 AND ({a}recorded_to IS NULL OR {a}recorded_to > $2)"

    def only(alias: str) -> str:
        return f"AND {alias}.district = $3" if district else ""

    def held(*aliases: str) -> str:
        """The interval the versions `aliases` all hold for."""
        starts = ", ".join(f"{a}.effective_from" for a in aliases)
        ends = ", ".join(f"coalesce({a}.effective_to, 'infinity')" for a in aliases)
        return f"greatest({starts}), least({ends})"

    def overlap(*aliases: str) -> str:
        starts = ", ".join(f"{a}.effective_from" for a in aliases)
        ends = ", ".join(f"coalesce({a}.effective_to, 'infinity')" for a in aliases)
        return f"greatest({starts}) < least({ends})"

    training = (
        f"""SELECT {held("a", "c", "w")}, 'training', c.category, 1::numeric
            FROM course_attendances a
            JOIN courses c ON c.id = a.course_id AND {said("c")} AND c.status <> 'CANCELLED'
            JOIN workers w ON w.id = a.worker_id AND {said("w")} {only("w")}
            WHERE {said("a")} AND {overlap("a", "c", "w")}"""
        if district
        else f"""SELECT {held("c")}, 'training', c.category, c.attendance_count::numeric
            FROM courses c WHERE {said("c")} AND c.status <> 'CANCELLED'"""
    )
    levels = (
        f"""SELECT {held("c", "w")}, 'level', c.level, 1 FROM worker_certificates c
            JOIN workers w ON w.id = c.worker_id AND {said("w")} {only("w")}
            WHERE {said("c")} AND NOT c.revoked AND {overlap("c", "w")}"""
        if district
        else f"""SELECT {held("c")}, 'level', c.level, 1 FROM worker_certificates c
            WHERE {said("c")} AND NOT c.revoked"""
    )
    theirs = f"JOIN workers w ON w.id = c.worker_id AND {v('w')} {only('w')}" if district else ""
    return f"""
        WITH m AS (SELECT day, i FROM unnest($1::date[]) WITH ORDINALITY AS d (day, i)),
        facts (effective_from, effective_to, figure, key, weight) AS (
            SELECT {held("w")}, 'workers', '', 1::numeric FROM workers w
            WHERE {said("w")} {only("w")}
            UNION ALL {levels}
            UNION ALL
            SELECT {held("a")}, 'agencies', '', 1 FROM agencies a
            WHERE {said("a")} AND a.status <> 'DEREGISTERED' {only("a")}
            UNION ALL
            SELECT {held("a")}, 'demonstration_agencies', '', 1 FROM agencies a
            WHERE {said("a")} AND a.status <> 'DEREGISTERED'
              AND a.demonstration_programme IS NOT NULL {only("a")}
            UNION ALL
            SELECT {held("s")}, 'stations', '', 1 FROM stations s
            WHERE {said("s")} AND s.status = 'OPEN' {only("s")}
            UNION ALL
            SELECT {held("s")}, 'demonstration_stations', '', 1 FROM stations s
            WHERE {said("s")} AND s.status = 'OPEN' AND s.demonstration_programme IS NOT NULL
              {only("s")}
            UNION ALL
            SELECT {held("p")}, 'sector', p.sector, 1 FROM posts p
            WHERE {said("p")} AND p.status <> 'ABOLISHED' {only("p")}
            UNION ALL
            SELECT {held("p")}, 'filled_posts', '', 1 FROM posts p
            WHERE {said("p")} AND p.status = 'FILLED' {only("p")}
            UNION ALL {training}
            UNION ALL
            SELECT {held("p")}, 'field', p.field, 1 FROM projects p WHERE {said("p")} {only("p")}
            UNION ALL
            SELECT {held("d", "p")}, 'funds_disbursed', '', d.amount
            FROM project_disbursements d
            JOIN projects p ON p.id = d.project_id AND {said("p")} {only("p")}
            WHERE {said("d")} AND {overlap("d", "p")}),
        changes AS (
            SELECT on_day, figure, key, sum(weight) AS weight FROM (
                SELECT effective_from AS on_day, figure, key, weight FROM facts
                UNION ALL
                SELECT effective_to, figure, key, -weight FROM facts
                WHERE effective_to < 'infinity'
            ) AS change GROUP BY on_day, figure, key),
        steps AS (
            SELECT width_bucket(on_day - 1, $1::date[]) + 1 AS i, figure, key,
                   sum(weight) AS weight
            FROM changes GROUP BY 1, figure, key),
        kinds AS (SELECT DISTINCT figure, key FROM steps),
        running AS (
            SELECT m.i, k.figure, k.key,
                   sum(coalesce(steps.weight, 0)) OVER (
                       PARTITION BY k.figure, k.key ORDER BY m.i) AS n
            FROM m CROSS JOIN kinds k
            LEFT JOIN steps ON steps.i = m.i AND steps.figure = k.figure AND steps.key = k.key),
        sums AS (SELECT i, jsonb_object_agg(figure || ':' || key, n) AS figures FROM running
                 GROUP BY i),
        ce AS (SELECT m.day, count(DISTINCT c.worker_id) AS holders
               FROM m JOIN worker_certificates c ON {v("c")} AND NOT c.revoked
               {theirs}
               GROUP BY m.day),
        {_groups(v, only)},
        sn AS (SELECT m.day, count(*) AS staffed
               FROM m JOIN stations s ON {v("s")} AND s.status = 'OPEN' {only("s")}
               JOIN ff ON ff.day = m.day AND ff.station_id = s.id AND ff.n >= 2
               GROUP BY m.day)
        SELECT m.day, sums.figures,
            coalesce(ce.holders, 0) AS certified_workers,
            coalesce(sn.staffed, 0) AS stations_fully_staffed,
            coalesce(co.urban, 0) AS urban_communities,
            coalesce(co.urban_on, 0) AS urban_communities_on_target,
            coalesce(co.rural, 0) AS rural_communities,
            coalesce(co.rural_on, 0) AS rural_communities_on_target
        FROM m LEFT JOIN sums USING (i) LEFT JOIN ce USING (day) LEFT JOIN sn USING (day)
        LEFT JOIN co USING (day)
        ORDER BY m.day"""


def _summed(row: asyncpg.Record) -> dict[str, Any]:
    """The figures of a `_series_statement` row, as `_figures` gives them."""
    summed = json.loads(row["figures"] or "{}", parse_float=Decimal)
    by: dict[str, dict[str, int]] = {"level": {}, "sector": {}, "training": {}, "field": {}}
    total: dict[str, int] = {}
    funds = Decimal(0)
    for name, n in summed.items():
        figure, _, key = name.partition(":")
        if figure == "funds_disbursed":
            funds = Decimal(n)
        elif figure in by:
            if n:
                by[figure][key] = int(n)
        else:
            total[figure] = int(n)
    return {
        "day": row["day"],
        "workers": total.get("workers", 0),
        "certified_workers": row["certified_workers"],
        "certificates_by_level": by["level"],
        "agencies": total.get("agencies", 0),
        "demonstration_agencies": total.get("demonstration_agencies", 0),
        "stations": total.get("stations", 0),
        "demonstration_stations": total.get("demonstration_stations", 0),
        "stations_fully_staffed": row["stations_fully_staffed"],
        "posts": sum(by["sector"].values()),
        "filled_posts": total.get("filled_posts", 0),
        "posts_by_sector": by["sector"],
        "training_person_times": sum(by["training"].values()),
        "training_by_category": by["training"],
        "projects": sum(by["field"].values()),
        "projects_by_field": by["field"],
        "funds_disbursed": funds.quantize(Decimal("0.01")),
        "urban_communities": row["urban_communities"],
        "urban_communities_on_target": row["urban_communities_on_target"],
        "rural_communities": row["rural_communities"],
        "rural_communities_on_target": row["rural_communities_on_target"],
    }


async def indicator_series(
    pool: asyncpg.Pool,
    days: Sequence[date],
    recorded: int = EVERYTHING,
    district: str | None = None,
    *,
    now: bool = False,
) -> list[dict[str, Any]]:
    """Every indicator on each of `days` (sorted, distinct) as recorded by position
    `recorded`, for `district` (None: the whole city), in one statement; `now`: the current
    rows (`days` is today). One day is counted by `_statement`, more by `_series_statement`."""
    args: list[Any] = [list(days)] if now else [list(days), recorded]
    if district:
        args.append(district)
    if now or len(days) == 1:
        rows = await pool.fetch(_statement(now, bool(district), len(days) == 1), *args)
        return [_figures(r) for r in rows]
    rows = await pool.fetch(_series_statement(bool(district)), *args)
    return [_summed(r) for r in rows]


async def indicators(
    pool: asyncpg.Pool, moment: Moment | None, district: str | None, today: date | None = None
) -> dict[str, Any]:
    """Every indicator at `moment` (None: now), for `district` (None: the whole city)."""
    if moment is None:
        today = today or date.today()
        (found,) = await indicator_series(pool, [today], district=district, now=True)
    else:
        (found,) = await indicator_series(pool, [moment.effective], moment.recorded, district)
    return found


def _figures(row: asyncpg.Record) -> dict[str, Any]:
    def counted(value: str | None) -> dict[str, Any]:
        found = json.loads(value) if value else None
        return {"n": 0, "filled": 0, "by": {}} if found is None else found

    posts, training, projects = (counted(row[k]) for k in ("posts", "training", "projects"))
    return {
        "day": row["day"],
        "workers": row["workers"],
        "certified_workers": row["certified_workers"],
        "certificates_by_level": json.loads(row["certificates_by_level"] or "{}"),
        "agencies": row["agencies"],
        "demonstration_agencies": row["demonstration_agencies"],
        "stations": row["stations"],
        "demonstration_stations": row["demonstration_stations"],
        "stations_fully_staffed": row["stations_fully_staffed"],
        "posts": int(posts["n"] or 0),
        "filled_posts": int(posts["filled"] or 0),
        "posts_by_sector": posts["by"] or {},
        "training_person_times": int(training["n"] or 0),
        "training_by_category": {k: int(n) for k, n in (training["by"] or {}).items()},
        "projects": int(projects["n"] or 0),
        "projects_by_field": projects["by"] or {},
        "funds_disbursed": Decimal(row["funds_disbursed"]),
        "urban_communities": row["urban_communities"],
        "urban_communities_on_target": row["urban_communities_on_target"],
        "rural_communities": row["rural_communities"],
        "rural_communities_on_target": row["rural_communities_on_target"],
    }
