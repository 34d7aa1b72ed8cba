-- How far each projection has applied the event store, updated in the same transaction as
-- the projection's own tables.
CREATE TABLE projection_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The public event log: one row per stored event of a record, with its envelope.
CREATE TABLE event_log (
    position bigint PRIMARY KEY,
    entity_id uuid NOT NULL,
    entity_type text NOT NULL,
    type text NOT NULL,
    version integer NOT NULL,
    recorded_at timestamptz NOT NULL,
    effective_on date NOT NULL,
    actor_sub text NOT NULL,
    actor_party text,
    actor_role text NOT NULL,
    actor_jurisdiction text NOT NULL,
    reason text,
    retracts bigint[] NOT NULL DEFAULT '{}',
    correlation_id text NOT NULL,
    idempotency_key text,
    district text,
    data jsonb NOT NULL
);
CREATE UNIQUE INDEX event_log_entity_version ON event_log (entity_id, version);
CREATE INDEX event_log_actor ON event_log (actor_sub, position);

-- Agencies as they stand now.
CREATE TABLE agencies (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    name text NOT NULL,
    credit_code text NOT NULL,
    district text NOT NULL,
    kind text NOT NULL,
    fields text[] NOT NULL,
    status text NOT NULL,
    registered_on date NOT NULL,
    incubator text,
    incubated_from date,
    incubated_to date,
    demonstration_programme text,
    demonstration_year integer,
    updated_at timestamptz NOT NULL
);
CREATE INDEX agencies_district ON agencies (district, seq);
CREATE INDEX agencies_status ON agencies (status, seq);
CREATE INDEX agencies_fields ON agencies USING gin (fields);
