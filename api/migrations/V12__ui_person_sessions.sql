-- A dashboard session acts either with an API token (its scopes) or as a person (a local user's
-- person session, from the dashboard's sign-in with password and TOTP), who may sign sign-offs.
ALTER TABLE ui_sessions ALTER COLUMN token_id DROP NOT NULL;
ALTER TABLE ui_sessions ADD COLUMN person_session_id bigint REFERENCES person_sessions (id) ON DELETE CASCADE;
ALTER TABLE ui_sessions ADD CONSTRAINT ui_sessions_one_credential CHECK (num_nonnulls(token_id, person_session_id) = 1);
