-- Sign-ins on the dashboard with the OIDC provider, between the redirect to the provider and its
-- redirect back: the state's SHA-256 is the key (the state itself travels in the URLs only), the
-- SHA-256 of the browser's binding cookie ties the sign-in to the browser that started it, the
-- nonce must come back in the ID token, and the PKCE verifier is sent with the code. A row is taken
-- once (deleted as it is read) and lives ten minutes at most.
CREATE TABLE oidc_logins (
    state_sha256   bytea       PRIMARY KEY,
    browser_sha256 bytea       NOT NULL,
    nonce          text        NOT NULL,
    code_verifier  text        NOT NULL,
    next           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);

CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);
