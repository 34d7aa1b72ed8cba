-- Communities (社区 and 村) as they stand now: the reference list stations are established in.
CREATE TABLE communities (
    code text PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    name text NOT NULL,
    district text NOT NULL,
    urban boolean NOT NULL,
    version integer NOT NULL,
    seq bigint NOT NULL UNIQUE,
    updated_at timestamptz NOT NULL
);
CREATE INDEX communities_district ON communities (district, seq);
CREATE INDEX communities_urban ON communities (urban, seq);
