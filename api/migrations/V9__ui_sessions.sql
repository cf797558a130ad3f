-- Dashboard sessions: a person signs in with an API token; the session acts with that token's
-- scopes until it expires, is ended, or the token is revoked. Only the SHA-256 of the session
-- cookie is kept; `csrf` is the secret every form of the session must carry.
CREATE TABLE ui_sessions (
    id_sha256  bytea       PRIMARY KEY,
    token_id   bigint      NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);
