-- The published rankings of districts and streets/townships: each quarter's, and each year's
-- (built from its quarters). A year's ranking is kept once the year has closed, so that the
-- years an area ranked last running can be counted (a yellow card each year; three running:
-- the one-vote veto).
CREATE TABLE pingan.ranking (
    period       text NOT NULL,             -- 2026-Q3, 2026
    level        text NOT NULL CHECK (level IN ('district', 'street')),
    area_id      text NOT NULL,
    score        double precision NOT NULL, -- the composite score, 0–100
    rank         integer NOT NULL,          -- 1: the best; tied areas share a rank
    last         boolean NOT NULL,          -- ranked last (a yellow card)
    standard     text NOT NULL,             -- digest of the standards it was computed with
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, level, area_id)
);
