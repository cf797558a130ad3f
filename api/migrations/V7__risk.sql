-- The risk bot: the model versions that scored changes, and one assessment per repository,
-- revision and model version (an upload of the same key replaces it; the same content again
-- changes nothing).

CREATE TABLE risk_models (
    version TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    trained_until TIMESTAMPTZ NOT NULL,
    features JSONB NOT NULL,
    evaluation JSONB,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE risk_assessments (
    id BIGSERIAL PRIMARY KEY,
    repository TEXT NOT NULL,
    revision TEXT NOT NULL,
    model_version TEXT NOT NULL REFERENCES risk_models (version),
    parent TEXT,
    author TEXT NOT NULL,
    author_time TIMESTAMPTZ NOT NULL,
    subject TEXT NOT NULL,
    probability DOUBLE PRECISION NOT NULL CHECK (probability >= 0 AND probability <= 1),
    band TEXT NOT NULL CHECK (band IN ('low', 'medium', 'high')),
    reasons JSONB NOT NULL,
    features JSONB NOT NULL,
    functions JSONB NOT NULL,
    coverage JSONB,
    run_id BIGINT,
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (repository, revision, model_version)
);

-- GET /risk/assessments: riskiest first within a repository.
CREATE INDEX risk_assessments_riskiest ON risk_assessments (repository, probability DESC, author_time DESC, id DESC);
-- GET /risk/revisions/{rev}: by revision prefix.
CREATE INDEX risk_assessments_revision ON risk_assessments (repository, revision text_pattern_ops);
