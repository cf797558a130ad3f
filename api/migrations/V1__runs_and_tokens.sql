-- Bot runs: every run of every bot, opened by the bot and closed with its outcome.
CREATE TABLE runs (
    id            bigserial PRIMARY KEY,
    bot           text        NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'pulse', 'manual', 'pipeline')),
    parameters    jsonb       NOT NULL DEFAULT '{}',
    status        text        NOT NULL DEFAULT 'running'
                              CHECK (status IN ('running', 'succeeded', 'failed', 'partial')),
    done          bigint,
    total         bigint,
    message       text,
    counts        jsonb       NOT NULL DEFAULT '{}',
    error_summary text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The last report from the bot; a run silent for too long is marked failed.
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX runs_by_bot ON runs (bot, id DESC);
CREATE INDEX runs_by_status ON runs (status, id DESC);
CREATE INDEX runs_open_by_update ON runs (updated_at) WHERE status = 'running';

-- API tokens: only the SHA-256 of each token is kept.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text        NOT NULL,
    token_sha256 bytea       NOT NULL UNIQUE,
    scopes       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- A name is given to one active token at a time.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
