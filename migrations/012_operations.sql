-- The operations `HUB_OPERATIONS=allow-listed` lets run (`hub operations add|list|remove`),
-- keyed by the SHA-256 of their normalised text (graphql-core's print of the parsed text).
CREATE TABLE allowed_operations (
    hash text PRIMARY KEY,
    name text NOT NULL,
    text text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
