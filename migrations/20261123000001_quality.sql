-- Owner: the quality MCP server. Expectation suites (kept in every version,
-- so a result names the exact expectations it ran) and the results of
-- checkpoints that ran them over dataset versions.
CREATE SCHEMA IF NOT EXISTS quality;

CREATE TABLE quality.suites (
    name         text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
    version      integer     NOT NULL CHECK (version > 0),
    -- The expectations, as validated by the server: a JSON array.
    definition   jsonb       NOT NULL CHECK (jsonb_typeof(definition) = 'array'),
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE quality.validation_results (
    id                       uuid        PRIMARY KEY,
    dataset                  text        NOT NULL,
    -- sha256:<content hash> of the dataset version, as storage names it.
    dataset_digest           text        NOT NULL CHECK (dataset_digest ~ '^sha256:[0-9a-f]{64}$'),
    dataset_rows             bigint      NOT NULL CHECK (dataset_rows >= 0),
    suite                    text        NOT NULL,
    suite_version            integer     NOT NULL,
    success                  boolean     NOT NULL,
    evaluated_expectations   integer     NOT NULL CHECK (evaluated_expectations >= 0),
    successful_expectations  integer     NOT NULL CHECK (successful_expectations BETWEEN 0 AND evaluated_expectations),
    -- One object per expectation: the expectation, success, observed values, error.
    results                  jsonb       NOT NULL CHECK (jsonb_typeof(results) = 'array'),
    run_by                   text        NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (suite, suite_version) REFERENCES quality.suites (name, version),
    CHECK (success = (successful_expectations = evaluated_expectations))
);

CREATE INDEX validation_results_by_dataset ON quality.validation_results (dataset, created_at DESC);
CREATE INDEX validation_results_by_suite ON quality.validation_results (suite, suite_version, created_at DESC);
