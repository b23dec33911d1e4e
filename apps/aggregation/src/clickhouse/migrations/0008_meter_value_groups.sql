-- The values of a meter's groupBy properties for each event, for GET /v1/usage?groupBy=…:
-- group_keys holds the property paths, group_values their values as text, position by position.
-- Rows written before this migration read as having no group value ('').
ALTER TABLE meter_values_by_time
    ADD COLUMN group_keys Array(String) DEFAULT emptyArrayString(),
    ADD COLUMN group_values Array(String) DEFAULT emptyArrayString();
