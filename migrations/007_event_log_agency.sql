-- The agency answerable for a record when each event happened (the agency itself, a worker's
-- employer, a station's operator, a course's deliverer, a project's contractor), so that a
-- contractor's stream can be filtered to its own records.
ALTER TABLE event_log ADD COLUMN agency uuid;
CREATE INDEX event_log_agency ON event_log (agency, position);
CREATE INDEX event_log_district ON event_log (district, position);
CREATE INDEX event_log_entity_type ON event_log (entity_type, position);
