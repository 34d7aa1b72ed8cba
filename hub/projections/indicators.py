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

Every figure, at one moment or at many days (`indicatorSeries`), comes from one statement: the
days are a relation (`unnest`) each table joins under the visibility of that day, so a series of
N points is one round trip, not N.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from hub.projections.timeline import EVERYTHING, Moment


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
        ff AS (SELECT m.day, st.station_id, count(*) AS n
               FROM m JOIN station_staff st ON {v("st")} AND st.full_time
               GROUP BY m.day, st.station_id),
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
               GROUP BY m.day),
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


async def indicator_series(
    pool: asyncpg.Pool,
    days: Sequence[date],
    recorded: int = EVERYTHING,
    district: str | None = None,
    *,
    now: bool = False,
) -> list[dict[str, Any]]:
    """Every indicator on each of `days` as recorded by position `recorded`, for `district`
    (None: the whole city), in one statement; `now`: the current rows (`days` is today)."""
    args: list[Any] = [list(days)] if now else [list(days), recorded]
    if district:
        args.append(district)
    rows = await pool.fetch(_statement(now, bool(district), len(days) == 1), *args)
    return [_figures(r) for r in rows]


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
