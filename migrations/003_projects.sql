-- Service projects as they stand now; seq is the position of the approval, for keyset paging.
-- The latest progress report and the closing evaluation are kept on the row (their history
-- is in the event log).
CREATE TABLE projects (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE,
    version integer NOT NULL,
    title text NOT NULL,
    field text NOT NULL,
    district text NOT NULL,
    funder text NOT NULL,
    budget numeric(14, 2) NOT NULL CHECK (budget > 0),
    programme text,
    contractor uuid NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    status text NOT NULL,
    approved_on date NOT NULL,
    disbursed numeric(14, 2) NOT NULL DEFAULT 0 CHECK (disbursed <= budget),
    percent_complete integer,
    progress_summary text,
    progress_reported_on date,
    evaluator text,
    evaluation_commissioned_on date,
    evaluation_score integer,
    evaluation_grade text,
    evaluation_concluded_on date,
    updated_at timestamptz NOT NULL
);
CREATE INDEX projects_district ON projects (district, seq);
CREATE INDEX projects_status ON projects (status, seq);
CREATE INDEX projects_field ON projects (field, seq);
CREATE INDEX projects_funder ON projects (funder, seq);
CREATE INDEX projects_contractor ON projects (contractor, seq);

-- One row per disbursement, at the position of its event.
CREATE TABLE project_disbursements (
    project_id uuid NOT NULL,
    position bigint NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    effective_on date NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, position)
);
