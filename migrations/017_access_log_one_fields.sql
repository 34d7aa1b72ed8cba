-- The personal-data access log (015): a row's `fields` may hold one text for all of its
-- workers when they were all shown the same fields (a page of names and ID numbers: one short
-- text instead of fifty, a third less to write, parse and store), or one per worker as before.
-- Readers take `fields[least(place, cardinality(fields))]`. The rows already written keep
-- their shape; they were held to 015's stricter check, which implies this one, so it is not
-- checked again over what may be a large table.
ALTER TABLE personal_data_access
    DROP CONSTRAINT personal_data_access_check,
    ADD CONSTRAINT personal_data_access_shape CHECK (
        cardinality(workers) > 0 AND cardinality(fields) IN (1, cardinality(workers))
    ) NOT VALID;
