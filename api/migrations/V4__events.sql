-- Events already handled by an event-driven bot (the pulse listener): a task group whose
-- coverage run was triggered, a push whose risk analysis was triggered. Kept here rather than
-- in the listener's memory so that a restarted or second listener does not trigger them again.
CREATE TABLE events (
    -- Who handled it, by rule: `code-coverage`, `risk`, `static-analysis`.
    source      text        NOT NULL CHECK (source ~ '^[a-z][a-z0-9-]{0,62}$'),
    -- The event's natural key within its source: a task group id, `<repository>:<push id>`.
    key         text        NOT NULL CHECK (key ~ '^[A-Za-z0-9._:-]{1,200}$'),
    -- The run the event started, when it started one.
    run_id      bigint      REFERENCES runs (id) ON DELETE SET NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, key)
);

CREATE INDEX events_by_time ON events (recorded_at);
