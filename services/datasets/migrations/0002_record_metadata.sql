-- Fields of an uploaded line outside its format's content (e.g. a preference pair's provenance),
-- as JSON with sorted keys; '' when the line had none.
ALTER TABLE staged_records ADD COLUMN metadata text NOT NULL DEFAULT '';
