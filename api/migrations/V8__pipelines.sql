-- Release pipelines: a DAG of steps, each created on its step service and followed to its end
-- by the engine; every transition is in an append-only, hash-chained audit log.

CREATE TABLE pipelines (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    uid text PRIMARY KEY,
    -- The definition as accepted (`{"steps": [...]}`), to answer the same body with 200 and
    -- another one with 409.
    definition jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE INDEX pipelines_by_state ON pipelines (state, id DESC);

CREATE TABLE pipeline_steps (
    pipeline_uid text NOT NULL REFERENCES pipelines (uid) ON DELETE CASCADE,
    uid text NOT NULL,
    -- Order of the step in the definition.
    position integer NOT NULL,
    -- A built-in step service (`signoff`, `taskcluster`, `bot`, `pipeline`), or none.
    kind text,
    -- The base URL of an external step service, or none for a built-in one.
    api_url text,
    parameters jsonb NOT NULL,
    requires text[] NOT NULL,
    description text,
    timeout_secs double precision,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'starting', 'in_progress', 'success', 'failure', 'cancelled', 'blocked')),
    -- Attempts started so far; attempt n > 1 is created on its service as `<pipeline>.<step>~n`.
    attempts integer NOT NULL DEFAULT 0,
    message text,
    -- The step service must still be told of a cancel (`DELETE {api_url}/{uid}`).
    cancel_pending boolean NOT NULL DEFAULT false,
    -- When the engine next looks at the step (create, poll, cancel), and until when a process
    -- holds it; a process that died lets its lease run out and another one takes over.
    due_at timestamptz,
    lease_until timestamptz,
    -- Transient failures of the step service in a row, for the backoff.
    transient_failures integer NOT NULL DEFAULT 0,
    -- Successful status polls of the current attempt, for the polling backoff.
    polls integer NOT NULL DEFAULT 0,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_uid, uid),
    CHECK (num_nonnulls(kind, api_url) = 1)
);

CREATE INDEX pipeline_steps_runnable ON pipeline_steps (pipeline_uid) WHERE state = 'pending';
CREATE INDEX pipeline_steps_due ON pipeline_steps (due_at)
    WHERE state IN ('starting', 'in_progress') OR cancel_pending;

-- One chain per pipeline: each entry holds the hash of the one before it (32 zero bytes for the
-- first), and its own hash covers that and every field, so editing or removing an entry breaks
-- the chain (`shipit-api audit verify`). No foreign key: the log outlives what it describes.
CREATE TABLE pipeline_audit (
    id bigserial PRIMARY KEY,
    pipeline_uid text NOT NULL,
    step_uid text,
    event text NOT NULL,
    from_state text,
    to_state text,
    cause text NOT NULL,
    actor text,
    details jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);

CREATE INDEX pipeline_audit_by_pipeline ON pipeline_audit (pipeline_uid, id);

CREATE FUNCTION pipeline_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pipeline_audit is append-only';
END;
$$;

CREATE TRIGGER pipeline_audit_append_only
    BEFORE UPDATE OR DELETE ON pipeline_audit
    FOR EACH ROW EXECUTE FUNCTION pipeline_audit_is_append_only();
