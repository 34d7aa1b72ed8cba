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
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg

from hub.projections.timeline import Moment, visible


async def indicators(
    pool: asyncpg.Pool, moment: Moment | None, district: str | None
) -> dict[str, Any]:
    """Every indicator at `moment` (None: now), for `district` (None: the whole city)."""

    def v(alias: str) -> str:
        return visible(moment, None, alias)

    def only(alias: str) -> str:
        return f"AND {alias}.district = $1" if district else ""

    args = [district] if district else []
    queries = {
        "workers": f"SELECT count(*) FROM workers w WHERE {v('w')} {only('w')}",
        "certificates": f"""
            SELECT c.level, count(*) AS n, count(DISTINCT c.worker_id) AS holders
            FROM worker_certificates c
            {f"JOIN workers w ON w.id = c.worker_id AND {v('w')} {only('w')}" if district else ""}
            WHERE {v("c")} AND NOT c.revoked
            GROUP BY ROLLUP (c.level)""",
        "agencies": f"""
            SELECT count(*) AS agencies,
                   count(*) FILTER (WHERE demonstration_programme IS NOT NULL) AS demonstration
            FROM agencies a WHERE {v("a")} AND a.status <> 'DEREGISTERED' {only("a")}""",
        "stations": f"""
            SELECT count(*) AS stations,
                   count(*) FILTER (WHERE demonstration_programme IS NOT NULL) AS demonstration,
                   count(*) FILTER (WHERE coalesce(f.n, 0) >= 2) AS staffed
            FROM stations s LEFT JOIN (
                SELECT station_id, count(*) AS n FROM station_staff st
                WHERE {v("st")} AND st.full_time GROUP BY station_id
            ) f ON f.station_id = s.id
            WHERE {v("s")} AND s.status = 'OPEN' {only("s")}""",
        "posts": f"""
            SELECT p.sector, count(*) AS n, count(*) FILTER (WHERE p.status = 'FILLED') AS filled
            FROM posts p WHERE {v("p")} AND p.status <> 'ABOLISHED' {only("p")}
            GROUP BY p.sector""",
        "training": f"""
            SELECT c.category, count(*) AS n
            FROM course_attendances a
            JOIN courses c ON c.id = a.course_id AND {v("c")} AND c.status <> 'CANCELLED'
            JOIN workers w ON w.id = a.worker_id AND {v("w")} {only("w")}
            WHERE {v("a")}
            GROUP BY c.category"""
        if district
        # city-wide, each course's own count of its attendances is enough
        else f"""
            SELECT c.category, sum(c.attendance_count) AS n FROM courses c
            WHERE {visible(moment, None, "c", ranged=True)} AND c.status <> 'CANCELLED'
            GROUP BY c.category""",
        "projects": f"""
            SELECT p.field, count(*) AS n FROM projects p WHERE {v("p")} {only("p")}
            GROUP BY p.field""",
        "funds": f"""
            SELECT coalesce(sum(d.amount), 0)::numeric(14, 2) FROM project_disbursements d
            JOIN projects p ON p.id = d.project_id AND {v("p")} {only("p")}
            WHERE {v("d")}""",
        "communities": f"""
            WITH people AS (
                SELECT s.community, st.worker_id FROM station_staff st
                JOIN stations s ON s.id = st.station_id AND {v("s")} AND s.status = 'OPEN'
                WHERE {v("st")}
                UNION
                SELECT p.community, p.holder FROM posts p
                WHERE {v("p")} AND p.status = 'FILLED' AND p.community IS NOT NULL
            ), per AS (SELECT community, count(*) AS n FROM people GROUP BY community)
            SELECT count(*) FILTER (WHERE c.urban) AS urban,
                   count(*) FILTER (WHERE c.urban AND coalesce(per.n, 0) >= 2) AS urban_on,
                   count(*) FILTER (WHERE NOT c.urban) AS rural,
                   count(*) FILTER (WHERE NOT c.urban AND coalesce(per.n, 0) >= 1) AS rural_on
            FROM communities c LEFT JOIN per ON per.community = c.code
            WHERE {v("c")} {only("c")}""",
    }

    async def fetch(sql: str) -> list[asyncpg.Record]:
        return await pool.fetch(sql, *args)

    names = list(queries)
    results = dict(
        zip(names, await asyncio.gather(*(fetch(queries[n]) for n in names)), strict=True)
    )
    certificates = {r["level"]: r for r in results["certificates"]}
    total = certificates.pop(None, None)
    agencies, stations = results["agencies"][0], results["stations"][0]
    communities = results["communities"][0]
    posts = results["posts"]
    return {
        "workers": results["workers"][0][0],
        "certified_workers": total["holders"] if total else 0,
        "certificates_by_level": {level: r["n"] for level, r in certificates.items()},
        "agencies": agencies["agencies"],
        "demonstration_agencies": agencies["demonstration"],
        "stations": stations["stations"],
        "demonstration_stations": stations["demonstration"],
        "stations_fully_staffed": stations["staffed"],
        "posts": sum(r["n"] for r in posts),
        "filled_posts": sum(r["filled"] for r in posts),
        "posts_by_sector": {r["sector"]: r["n"] for r in posts},
        "training_person_times": sum(r["n"] for r in results["training"]),
        "training_by_category": {r["category"]: r["n"] for r in results["training"]},
        "projects": sum(r["n"] for r in results["projects"]),
        "projects_by_field": {r["field"]: r["n"] for r in results["projects"]},
        "funds_disbursed": Decimal(results["funds"][0][0]),
        "urban_communities": communities["urban"],
        "urban_communities_on_target": communities["urban_on"],
        "rural_communities": communities["rural"],
        "rural_communities_on_target": communities["rural_on"],
    }
