-- The API's built-in step services (`/steps/signoff`, `/steps/taskcluster`, `/steps/bot`): one row
-- a step, whoever created it (a pipeline's engine, as `<pipeline>.<step>`, or anyone with the
-- scope), and the signatures of sign-off steps.

CREATE TABLE service_steps (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    service text NOT NULL CHECK (service IN ('signoff', 'taskcluster', 'bot')),
    uid text NOT NULL,
    -- The parameters as accepted, to answer the same body with 200 and another one with 409.
    parameters jsonb NOT NULL,
    state text NOT NULL DEFAULT 'in_progress'
        CHECK (state IN ('in_progress', 'success', 'failure', 'cancelled')),
    message text,
    -- Taskcluster: the group followed (none until a hook's trigger answered).
    task_group_id text,
    -- Taskcluster: when the hook was triggered; a trigger never answered is never sent again.
    -- Bot: when the run was being started.
    triggered_at timestamptz,
    -- Taskcluster: when the group was last read (readers over HTTP read it at most every 5 s).
    checked_at timestamptz,
    -- Bot: the run started for the step.
    run_id bigint REFERENCES runs (id),
    -- Sign-off: the step fails unless signed before this.
    expires_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (service, uid)
);

CREATE INDEX service_steps_listing ON service_steps (service, id DESC);
CREATE INDEX service_steps_expiring ON service_steps (expires_at)
    WHERE service = 'signoff' AND state = 'in_progress' AND expires_at IS NOT NULL;

-- One signature per person and step.
CREATE TABLE signoff_signatures (
    step_uid text NOT NULL,
    email text NOT NULL,
    group_name text NOT NULL,
    -- `local` or `oidc`.
    credential text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (step_uid, email)
);

-- What people must be told (a sign-off step started, completed, expired), written in the
-- transaction of the change and sent afterwards, retried until delivered or given up.
CREATE TABLE notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- `email` or `webhook`.
    channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
    step_uid text NOT NULL,
    event text NOT NULL,
    recipients text[] NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    due_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    last_error text,
    sent_at timestamptz,
    given_up_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notifications_due ON notifications (due_at) WHERE sent_at IS NULL AND given_up_at IS NULL;
CREATE INDEX notifications_pending_by_step ON notifications (step_uid, channel, id)
    WHERE sent_at IS NULL AND given_up_at IS NULL;
