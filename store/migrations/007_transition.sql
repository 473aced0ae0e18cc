-- Region entries and exits reported by units (OwnTracks transition events). A region named
-- after a checkpoint is also a check-in (enter = on, leave = off, method gps).
CREATE TABLE pingan.transition (
    ts           timestamptz NOT NULL,
    unit_id      text NOT NULL,
    region       text NOT NULL,
    event        text NOT NULL CHECK (event IN ('enter', 'leave')),
    lat          double precision,
    lon          double precision,
    acc          real,
    source       text NOT NULL DEFAULT 'owntracks',
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, ts, region, event)
);
CREATE INDEX transition_ts ON pingan.transition (ts);
