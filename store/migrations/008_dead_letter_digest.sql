-- A dead letter knows the message it came from (a digest of its topic and whole payload), so a
-- message the broker sends again after a lost acknowledgement is not dead-lettered twice.
ALTER TABLE pingan.dead_letter ADD COLUMN digest text;
CREATE INDEX dead_letter_digest ON pingan.dead_letter (digest, received_at) WHERE digest IS NOT NULL;
