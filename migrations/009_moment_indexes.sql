-- Courses get a version per attendance, so most of their versions do not hold at a given
-- moment: a GiST index on the two intervals as ranges finds those that do (see `visible` in
-- hub/projections/timeline.py, `ranged`). Elsewhere most versions hold, and a scan is cheaper.
CREATE INDEX courses_at ON courses USING gist
    (daterange(effective_from, effective_to), int8range(recorded_from, recorded_to));
