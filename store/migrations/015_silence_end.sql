-- A silence can be ended early by an operator: its end moves to that moment, with who did it.
ALTER TABLE pingan.alert_silence ADD COLUMN ended_by text;
