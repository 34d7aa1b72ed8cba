-- Every read table becomes bitemporal (see hub/projections/timeline.py): a row is one version
-- of a record's row, held from effective_from to effective_to (NULL: still holds) as recorded
-- from position recorded_from to recorded_to (NULL: still said). The current state is the
-- slice where both are NULL. The tables are emptied and their projections rewound, so they
-- are rebuilt from the event store.
TRUNCATE agencies, communities, workers, worker_certificates, courses, course_attendances,
    projects, project_disbursements, stations, station_staff, posts;
UPDATE projection_positions SET position = 0
    WHERE name IN ('agencies', 'communities', 'workers', 'courses', 'projects', 'stations');

ALTER TABLE worker_certificates DROP CONSTRAINT worker_certificates_worker_id_fkey;
ALTER TABLE agencies DROP CONSTRAINT agencies_pkey, DROP CONSTRAINT agencies_seq_key;
ALTER TABLE communities DROP CONSTRAINT communities_pkey, DROP CONSTRAINT communities_id_key,
    DROP CONSTRAINT communities_seq_key;
ALTER TABLE workers DROP CONSTRAINT workers_pkey, DROP CONSTRAINT workers_seq_key;
ALTER TABLE worker_certificates DROP CONSTRAINT worker_certificates_pkey;
ALTER TABLE courses DROP CONSTRAINT courses_pkey, DROP CONSTRAINT courses_seq_key;
ALTER TABLE course_attendances DROP CONSTRAINT course_attendances_course_id_worker_id_key;
ALTER TABLE projects DROP CONSTRAINT projects_pkey, DROP CONSTRAINT projects_seq_key;
ALTER TABLE project_disbursements DROP CONSTRAINT project_disbursements_pkey;
ALTER TABLE stations DROP CONSTRAINT stations_pkey, DROP CONSTRAINT stations_seq_key;
ALTER TABLE station_staff DROP CONSTRAINT station_staff_pkey;
ALTER TABLE posts DROP CONSTRAINT posts_pkey, DROP CONSTRAINT posts_seq_key;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('agencies', 'id', 'id'),
        ('communities', 'id', 'id'),
        ('workers', 'id', 'id'),
        ('worker_certificates', 'worker_id', 'worker_id, level, number'),
        ('courses', 'id', 'id'),
        ('course_attendances', 'course_id', 'course_id, worker_id'),
        ('projects', 'id', 'id'),
        ('project_disbursements', 'project_id', 'project_id, position'),
        ('stations', 'id', 'id'),
        ('station_staff', 'station_id', 'station_id, worker_id'),
        ('posts', 'id', 'id')
    ) AS v (name, record, key)
    LOOP
        EXECUTE format(
            'ALTER TABLE %I ADD COLUMN effective_from date NOT NULL,'
            ' ADD COLUMN effective_to date,'
            ' ADD COLUMN recorded_from bigint NOT NULL,'
            ' ADD COLUMN recorded_to bigint,'
            ' ADD CHECK (effective_to IS NULL OR effective_to > effective_from),'
            ' ADD CHECK (recorded_to IS NULL OR recorded_to > recorded_from)', t.name);
        -- The current state: one row per key.
        EXECUTE format(
            'CREATE UNIQUE INDEX %I ON %I (%s) WHERE effective_to IS NULL AND recorded_to IS NULL',
            t.name || '_now', t.name, t.key);
        -- What the registry says now, for the projector; and every version, for asOf.
        EXECUTE format('CREATE INDEX %I ON %I (%s) WHERE recorded_to IS NULL',
            t.name || '_said', t.name, t.record);
        EXECUTE format('CREATE INDEX %I ON %I (%s, effective_from)',
            t.name || '_versions', t.name, t.record);
    END LOOP;
END
$$;

CREATE INDEX communities_code ON communities (code);
CREATE INDEX agencies_seq ON agencies (seq);
CREATE INDEX workers_seq ON workers (seq);
CREATE INDEX courses_seq ON courses (seq);
CREATE INDEX projects_seq ON projects (seq);
CREATE INDEX stations_seq ON stations (seq);
CREATE INDEX posts_seq ON posts (seq);
CREATE INDEX communities_seq ON communities (seq);
-- The last position recorded at or before a time, for asOf.recorded.
CREATE INDEX event_log_recorded ON event_log (recorded_at, position);
