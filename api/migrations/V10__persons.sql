-- People who sign off, for deployments without an identity provider: local users sign in with a
-- password (an argon2 PHC string) and a TOTP code. `last_totp_step` is the time step of the last
-- code accepted: no code of that step or an earlier one is accepted again. `failed_attempts`
-- counts failed sign-ins in a row; past a threshold, sign-ins wait until `locked_until`.
CREATE TABLE local_users (
    id              bigserial   PRIMARY KEY,
    email           text        NOT NULL UNIQUE,
    groups          text[]      NOT NULL DEFAULT '{}',
    password_hash   text        NOT NULL,
    totp_secret     text        NOT NULL,
    last_totp_step  bigint,
    failed_attempts integer     NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Person tokens (`shipitp_…`) handed out by a sign-in: only their SHA-256 is kept. Removing a
-- user ends their sessions.
CREATE TABLE person_sessions (
    id           bigserial   PRIMARY KEY,
    token_sha256 bytea       NOT NULL UNIQUE,
    user_id      bigint      NOT NULL REFERENCES local_users (id) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX person_sessions_by_user ON person_sessions (user_id);
