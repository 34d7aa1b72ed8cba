-- Records a projection holds back: one of their events could not be applied (or not even
-- decoded), so the projection keeps the record's rows as they were before that event and skips
-- its later events, while every other record goes on. `hub project --retry` applies them again.
CREATE TABLE held_back (
    projection text NOT NULL,
    entity_id uuid NOT NULL,
    position bigint NOT NULL,
    error text NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, entity_id)
);
CREATE INDEX held_back_entity ON held_back (entity_id);
