"""The read planner: a query operation compiled to one SQL statement whose one result is the
JSON of its `data`, built by PostgreSQL (issue 13)."""
