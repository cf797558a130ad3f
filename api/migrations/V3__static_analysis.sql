-- Static analysis: the diffs the bot analyzed and the issues it found on each. An issue is
-- identified on its diff by its hash, which does not depend on its line: posting the same
-- results again updates them in place.
CREATE TABLE static_analysis_diffs (
    -- The Phabricator diff id.
    id          bigint      PRIMARY KEY,
    revision_id bigint      NOT NULL,
    repository  text        NOT NULL,
    base_commit text,
    head_commit text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX static_analysis_diffs_by_revision ON static_analysis_diffs (revision_id, id);

CREATE TABLE static_analysis_issues (
    diff_id       bigint      NOT NULL REFERENCES static_analysis_diffs (id) ON DELETE CASCADE,
    hash          text        NOT NULL,
    -- Copied from the diff, for the known-issue lookups by repository and path.
    repository    text        NOT NULL,
    analyzer      text        NOT NULL,
    path          text        NOT NULL,
    line          integer     NOT NULL,
    nb_lines      integer     NOT NULL CHECK (nb_lines >= 1),
    column_number integer,
    level         text        NOT NULL CHECK (level IN ('error', 'warning')),
    check_name    text        NOT NULL,
    message       text        NOT NULL,
    in_patch      boolean     NOT NULL,
    is_new        boolean     NOT NULL,
    publishable   boolean     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (diff_id, hash)
);

-- Issues present at the base of a diff are known in their repository.
CREATE INDEX static_analysis_issues_known ON static_analysis_issues (repository, path) WHERE NOT is_new;
CREATE INDEX static_analysis_issues_by_time ON static_analysis_issues (created_at);
