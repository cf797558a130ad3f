-- Coverage reports: one per (repository, revision, suite, platform); 'all' names the merge of
-- every suite or platform.
CREATE TABLE coverage_reports (
    id               bigserial PRIMARY KEY,
    repository       text             NOT NULL,
    revision         text             NOT NULL,
    push_id          bigint           NOT NULL,
    push_date        timestamptz      NOT NULL,
    suite            text             NOT NULL,
    platform         text             NOT NULL,
    lines_total      bigint           NOT NULL,
    lines_covered    bigint           NOT NULL,
    coverage_percent double precision NOT NULL,
    paths            bigint           NOT NULL,
    zero_coverage    jsonb            NOT NULL DEFAULT '[]',
    uploaded_at      timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (repository, revision, suite, platform)
);

CREATE INDEX coverage_reports_by_push ON coverage_reports (repository, suite, platform, push_id);

-- Every directory and file of a report, with its totals; a file's per-line hits are a
-- compressed JSON array (deflate).
CREATE TABLE coverage_paths (
    report_id        bigint           NOT NULL REFERENCES coverage_reports ON DELETE CASCADE,
    path             text             NOT NULL,
    parent           text,
    kind             text             NOT NULL CHECK (kind IN ('directory', 'file')),
    name             text             NOT NULL,
    lines_total      bigint           NOT NULL,
    lines_covered    bigint           NOT NULL,
    lines_missed     bigint           NOT NULL,
    coverage_percent double precision NOT NULL,
    children         bigint,
    lines            bytea,
    PRIMARY KEY (report_id, path)
);

CREATE INDEX coverage_paths_by_parent ON coverage_paths (report_id, parent);
