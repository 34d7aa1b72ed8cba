-- Worker keys are stored only wrapped by the key-encryption key kept outside the database
-- (hub/personal_data.py `Kek`); `kek_id` names that key. Rows from before hold raw keys and
-- no `kek_id`: the hub wraps them when it starts.
ALTER TABLE personal_data_keys ADD COLUMN kek_id bytea;
COMMENT ON COLUMN personal_data_keys.key IS 'the worker''s key, wrapped by the KEK kek_id';

-- Idempotency claims made before this held a bare SHA-256 of the request, personal data
-- included; the hub re-keys the ones listed here when it starts, then forgets them.
CREATE TABLE unkeyed_fingerprints (notification_id bigint PRIMARY KEY);
DO $$
BEGIN
    IF to_regclass('registry_events') IS NOT NULL THEN
        INSERT INTO unkeyed_fingerprints
        SELECT notification_id FROM registry_events WHERE topic = 'hub.domain.claim:Claim.Made';
    END IF;
END
$$;
