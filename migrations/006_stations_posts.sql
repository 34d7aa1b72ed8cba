-- Stations as they stand now, their staff, and posts.
CREATE TABLE stations (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    status text NOT NULL,
    name text NOT NULL,
    community text NOT NULL,
    district text NOT NULL,
    operator uuid,
    operator_from date,
    operator_to date,
    assessed_on date,
    hardware integer,
    duties integer,
    mechanism integer,
    funding integer,
    service_standards integer,
    performance integer,
    demonstration_programme text,
    demonstration_year integer,
    established_on date NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX stations_district ON stations (district, seq);
CREATE INDEX stations_operator ON stations (operator);

CREATE TABLE station_staff (
    station_id uuid NOT NULL,
    worker_id uuid NOT NULL,
    full_time boolean NOT NULL,
    since date NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (station_id, worker_id)
);
CREATE INDEX station_staff_worker ON station_staff (worker_id);

CREATE TABLE posts (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    status text NOT NULL,
    sector text NOT NULL,
    field text NOT NULL,
    district text NOT NULL,
    host_organization text NOT NULL,
    community text,
    station uuid,
    origin text NOT NULL,
    holder uuid,
    created_on date NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX posts_district ON posts (district, seq);
CREATE INDEX posts_station ON posts (station);
CREATE INDEX posts_holder ON posts (holder);
