-- Worker keys are stored only wrapped by the key-encryption key kept outside the database
-- (hub/personal_data.py `Kek`); `kek_id` names that key. Rows from before hold raw keys and
-- no `kek_id`: the hub wraps them when it starts.
ALTER TABLE personal_data_keys ADD COLUMN kek_id bytea;
COMMENT ON COLUMN personal_data_keys.key IS 'the worker''s key, wrapped by the KEK kek_id';

