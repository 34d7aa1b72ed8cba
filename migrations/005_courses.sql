-- Training courses as they stand now. `status` is SCHEDULED, COMPLETED or CANCELLED; RUNNING
-- (a scheduled course between its dates) depends on the day it is read, so queries derive it.
CREATE TABLE courses (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    title text NOT NULL,
    category text NOT NULL,
    level text NOT NULL,
    district text,
    delivered_by uuid,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    hours numeric NOT NULL,
    status text NOT NULL,
    attendance_count integer NOT NULL DEFAULT 0,
    scheduled_on date NOT NULL,
    completed_on date,
    cancelled_on date,
    updated_at timestamptz NOT NULL
);
CREATE INDEX courses_district ON courses (district, seq);
CREATE INDEX courses_status ON courses (status, seq);
CREATE INDEX courses_category ON courses (category, seq);
CREATE INDEX courses_level ON courses (level, seq);
CREATE INDEX courses_delivered_by ON courses (delivered_by, seq);

-- One row per worker who attended a course (at most one per course and worker). No foreign
-- key to courses: a rebuild truncates each table on its own.
CREATE TABLE course_attendances (
    course_id uuid NOT NULL,
    worker_id uuid NOT NULL,
    hours numeric NOT NULL,
    passed boolean,
    position bigint NOT NULL,
    effective_on date NOT NULL,
    UNIQUE (course_id, worker_id)
);
CREATE INDEX course_attendances_worker ON course_attendances (worker_id, position);
