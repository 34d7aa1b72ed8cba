-- Who was shown a worker's name or ID number (China's Personal Information Protection Law):
-- one row per response (a query, a history entry, a stream event) and actor, listing the
-- workers it showed in the order shown, written in batches off the request path by
-- hub/service/access_log.py. `fields` runs parallel to `workers`: each worker's field names,
-- comma-separated (`name,idNumber`; the API's names), which keeps a row of fifty workers small
-- enough to be stored inline, uncompressed.
-- `personalDataAccess` answers one entry per (row, worker), paged by (`seq`, place in `workers`).
CREATE TABLE personal_data_access (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_sub text NOT NULL,
    actor_role text NOT NULL,
    actor_jurisdiction text NOT NULL,
    request_id text,
    workers uuid[] NOT NULL,
    fields text[] NOT NULL,
    CHECK (cardinality(workers) > 0 AND cardinality(fields) = cardinality(workers))
);
CREATE INDEX personal_data_access_workers ON personal_data_access USING gin (workers);
CREATE INDEX personal_data_access_actor ON personal_data_access (actor_sub, seq);
CREATE INDEX personal_data_access_at ON personal_data_access (at, seq);

-- `indicators` now: the current posts and unrevoked certificates counted from an index alone
-- (hub/projections/indicators.py), about a quarter less work per call at seed scale 0.25.
CREATE INDEX posts_now_counted ON posts (status, sector, district, community, holder)
    WHERE effective_to IS NULL AND recorded_to IS NULL;
CREATE INDEX worker_certificates_now_counted ON worker_certificates (level, worker_id)
    WHERE NOT revoked AND effective_to IS NULL AND recorded_to IS NULL;
