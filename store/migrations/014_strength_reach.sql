-- Per day, what the quarterly assessment reports beside coverage, stored once the day has closed
-- (as pingan.coverage_daily is): each township team's strength per shift — the distinct officers
-- seen aboard its units — and each district's response reach — the share of its area within the
-- reach minutes of an on-duty unit, sampled every hour. `standard` is a digest of the shifts, the
-- minimum, the minutes and the speeds they were computed with.
CREATE TABLE pingan.team_shift (
    day          date NOT NULL,
    team_id      text NOT NULL,
    shift_from   timestamptz NOT NULL,
    shift_to     timestamptz NOT NULL,
    active       integer NOT NULL,          -- distinct officers seen aboard the team's units
    minimum      integer NOT NULL,
    known        boolean NOT NULL,          -- false: the ingest received less than half of the shift
    standard     text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, shift_from, standard)
);
CREATE TABLE pingan.reach_daily (
    day          date NOT NULL,
    district_id  text NOT NULL,
    reach_sum    double precision NOT NULL, -- the sum over the day's known samples of the share reached
    samples      integer NOT NULL,          -- known samples (the ingest receiving at that moment)
    unknown      integer NOT NULL,          -- samples at moments it was not
    standard     text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, district_id, standard)
);
