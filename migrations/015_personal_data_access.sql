-- Who was shown a worker's name or ID number (China's Personal Information Protection Law):
-- one row per response (a query, a history entry, a stream event) and worker, written in
-- batches off the request path by hub/service/access_log.py. `seq` orders the log and pages it.
CREATE TABLE personal_data_access (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_sub text NOT NULL,
    actor_role text NOT NULL,
    actor_jurisdiction text NOT NULL,
    worker_id uuid NOT NULL,
    fields text[] NOT NULL,
    request_id text
);
CREATE INDEX personal_data_access_worker ON personal_data_access (worker_id, seq);
CREATE INDEX personal_data_access_actor ON personal_data_access (actor_sub, seq);
CREATE INDEX personal_data_access_at ON personal_data_access (at, seq);
