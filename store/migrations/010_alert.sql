-- Alerts and their history. One open (not resolved) alert per (type, subject), enforced by a
-- partial unique index: a restarted alert service, or two of them, cannot open it twice.
CREATE TABLE pingan.alert (
    alert_id         uuid PRIMARY KEY,
    type             text NOT NULL,
    subject          text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    state            text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    since            timestamptz NOT NULL,          -- the condition holds since
    opened_at        timestamptz NOT NULL,
    scope            jsonb NOT NULL DEFAULT '{}',   -- category, priority, kind, cell, street, district
    detail           jsonb NOT NULL DEFAULT '{}',
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    escalations      integer NOT NULL DEFAULT 0,
    silence_id       uuid,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_one_open ON pingan.alert (type, subject) WHERE state <> 'resolved';
CREATE INDEX alert_opened ON pingan.alert (opened_at DESC);

-- Every step of every alert: opened, escalated, acknowledged, resolved, notified, with who and when.
CREATE TABLE pingan.alert_event (
    alert_id  uuid NOT NULL REFERENCES pingan.alert (alert_id) ON DELETE CASCADE,
    ts        timestamptz NOT NULL DEFAULT now(),
    action    text NOT NULL,
    actor     text NOT NULL,
    note      text,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_event_alert ON pingan.alert_event (alert_id, ts);

-- Maintenance windows: what they cover is recorded, not notified.
CREATE TABLE pingan.alert_silence (
    silence_id  uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('subject', 'area', 'type')),
    target      text NOT NULL,
    starts      timestamptz NOT NULL,
    ends        timestamptz NOT NULL CHECK (ends > starts),
    who         text NOT NULL,
    why         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
