-- Bearer tokens of the HTTP API and the dashboard. Only a hash of each token's secret is kept;
-- a token is shown once, when it is created. Each has a role and the districts it may see
-- (empty: the whole city).
CREATE TABLE pingan.api_token (
    token_id     text PRIMARY KEY,
    owner        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('command', 'maintenance', 'auditor', 'admin')),
    districts    text[] NOT NULL DEFAULT '{}',
    secret_hash  bytea NOT NULL,            -- SHA-256 of the secret (random, 256 bits: no stretching needed)
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
