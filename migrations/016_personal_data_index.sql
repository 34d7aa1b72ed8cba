-- The blind index (hub/registry/blind_index.py): each worker's current name and ID number
-- only as HMAC digests under a key derived from the KEK, for finding a worker by them. A
-- digest goes with the worker's key (erasure deletes the key). The hub fills in the digests
-- of workers stored before this when it starts (a migration cannot: it has no KEK).
CREATE TABLE personal_data_index (
    worker_id uuid NOT NULL REFERENCES personal_data_keys (worker_id) ON DELETE CASCADE,
    field text NOT NULL CHECK (field IN ('name', 'id_number')),
    digest bytea NOT NULL,
    PRIMARY KEY (worker_id, field)
);
CREATE INDEX personal_data_index_digest ON personal_data_index (digest);
