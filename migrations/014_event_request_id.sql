-- The request id (`X-Request-ID`) a mutation's events record in their envelope; null for
-- events stored before the hub kept it.
ALTER TABLE event_log ADD COLUMN request_id text;
