-- A person session is a local user's (their groups in `local_users`, a person token, a second
-- factor always) or, from the dashboard's sign-in with the OIDC provider, a person of the
-- provider: their email, groups and second factor as the verified ID token said, and no token
-- (the dashboard session is its only handle).
ALTER TABLE person_sessions ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE person_sessions ALTER COLUMN token_sha256 DROP NOT NULL;
ALTER TABLE person_sessions ADD COLUMN email text;
ALTER TABLE person_sessions ADD COLUMN groups text[];
ALTER TABLE person_sessions ADD COLUMN second_factor boolean;
ALTER TABLE person_sessions ADD CONSTRAINT person_sessions_local_or_oidc CHECK (
    (user_id IS NOT NULL AND token_sha256 IS NOT NULL AND num_nulls(email, groups, second_factor) = 3)
    OR (user_id IS NULL AND token_sha256 IS NULL AND num_nonnulls(email, groups, second_factor) = 3)
);

CREATE INDEX person_sessions_by_email ON person_sessions (email) WHERE email IS NOT NULL;
