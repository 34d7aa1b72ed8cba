-- The blind index (hub/registry/blind_index.py): each worker's current name and ID number
-- only as HMAC digests under a key derived from the KEK, for finding a worker by them. The
-- row goes with the worker's key (erasure deletes the key). The hub fills in the digests of
-- workers stored before this when it starts (a migration cannot: it has no KEK).
CREATE TABLE personal_data_index (
    worker_id uuid PRIMARY KEY REFERENCES personal_data_keys (worker_id) ON DELETE CASCADE,
    name bytea,
    id_number bytea
);
CREATE INDEX personal_data_index_name ON personal_data_index (name);
CREATE INDEX personal_data_index_id_number ON personal_data_index (id_number);
