-- Uplift: release channels, the bot's analysis of each bug with a pending uplift request, the
-- people involved in those bugs, and the grafts of each bug's patches onto the channels'
-- branches. The analysis is stored as the bot sent it (JSONB); the fields the API filters on are
-- columns. Grafts live in their own table so that storing a new analysis never erases them.
CREATE TABLE uplift_channels (
    name       text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
    -- The major version the channel ships, when the bot declared it.
    version    integer,
    branch     text        NOT NULL
);

CREATE TABLE uplift_bugs (
    bugzilla_id   bigint      PRIMARY KEY CHECK (bugzilla_id > 0),
    summary       text        NOT NULL,
    product       text        NOT NULL,
    component     text        NOT NULL,
    status        text        NOT NULL,
    -- The channels with a pending request, sorted and without repeats.
    channels      text[]      NOT NULL,
    analysis      jsonb       NOT NULL CHECK (jsonb_typeof(analysis) = 'object'),
    analysis_hash text        NOT NULL CHECK (analysis_hash ~ '^[0-9a-f]{64}$'),
    -- When the stored analysis last changed.
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The bugs pending for a channel (`channels @> ARRAY[name]`).
CREATE INDEX uplift_bugs_by_channel ON uplift_bugs USING gin (channels);

-- A Bugzilla user. Karma and comments are about the person: they outlive the bugs.
CREATE TABLE uplift_contributors (
    bugzilla_id     bigint      PRIMARY KEY CHECK (bugzilla_id > 0),
    email           text        NOT NULL,
    name            text        NOT NULL,
    avatar_url      text        NOT NULL,
    karma           integer     NOT NULL DEFAULT 0,
    comment_public  text        NOT NULL DEFAULT '',
    comment_private text        NOT NULL DEFAULT ''
);

-- One row per role of a contributor on a bug; replaced as a whole by each analysis.
CREATE TABLE uplift_bug_roles (
    bug_id         bigint NOT NULL REFERENCES uplift_bugs (bugzilla_id) ON DELETE CASCADE,
    contributor_id bigint NOT NULL REFERENCES uplift_contributors (bugzilla_id),
    role           text   NOT NULL,
    PRIMARY KEY (bug_id, contributor_id, role)
);

-- Every attempt to graft a bug's patches onto a channel's branch; the newest per channel is the
-- current verdict.
CREATE TABLE uplift_grafts (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bug_id     bigint      NOT NULL REFERENCES uplift_bugs (bugzilla_id) ON DELETE CASCADE,
    channel    text        NOT NULL REFERENCES uplift_channels (name),
    branch     text        NOT NULL,
    branch_tip text        NOT NULL,
    success    boolean     NOT NULL,
    -- `[{commit, status, tree?, conflicts?}]`, in graft order.
    commits    jsonb       NOT NULL CHECK (jsonb_typeof(commits) = 'array'),
    tested_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX uplift_grafts_by_bug ON uplift_grafts (bug_id, channel, id DESC);
