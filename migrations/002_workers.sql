-- One key per worker for sealing personal data; deleting a row erases that worker's name and
-- ID number from every stored event (see hub/personal_data.py).
CREATE TABLE personal_data_keys (
    worker_id uuid PRIMARY KEY,
    key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Workers as they stand now; personal fields stay sealed here too.
CREATE TABLE workers (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    status text NOT NULL,
    name_sealed text,
    id_number_sealed text,
    district text NOT NULL,
    education text NOT NULL,
    employer uuid,
    post uuid,
    erased boolean NOT NULL DEFAULT false,
    registered_on date NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX workers_district ON workers (district, seq);
CREATE INDEX workers_employer ON workers (employer, seq);

CREATE TABLE worker_certificates (
    worker_id uuid NOT NULL REFERENCES workers (id),
    level text NOT NULL,
    number text NOT NULL,
    awarded_on date NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    position bigint NOT NULL,
    PRIMARY KEY (worker_id, level, number)
);
CREATE INDEX worker_certificates_level ON worker_certificates (level) WHERE NOT revoked;
