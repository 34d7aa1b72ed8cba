"""`hub seed --profile city-2018`: the city's history from 2008 to 2018-06-30, at a scale.

Everything is made through the registry's commands, by the party that answers for each step
(the municipal bureau, a district bureau in its district, a contracted agency for its own
work), with past effective dates, in the registry's batch mode (`Registry.batch`). The report's
figures (`city_2018_figures`) come out exactly; around them is texture drawn from a random
generator seeded by the profile and the scale, so one scale always gives the same history
(record ids, correlation ids and recording times aside).

The first command carries the idempotency key `seed:city-2018` and a claim `seed:city-2018:done`
is saved last: seeding a seeded city again writes nothing, and a registry that holds anything
but communities (a half-seeded city, or other records) is refused.

The package goes by phase: `profile` (the days, keys and figures), `plan` (steps, planned
records, `City`), one module per phase (`communities`, `agencies`, `stations`, `workers`,
`posts`, `training`, `projects`, `corrections`), `runner` (sending steps, the report) and
`driver` (the refusals and the phases in order).
"""

from hub.tools.seed.driver import SeedRefused, seed
from hub.tools.seed.profile import PROFILES, city_2018_figures
from hub.tools.seed.runner import Progress, Report

__all__ = ["PROFILES", "Progress", "Report", "SeedRefused", "city_2018_figures", "seed"]
