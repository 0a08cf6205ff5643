-- Owner: the drift MCP server. Drift, model-performance and fairness
-- reports: a small summary for listings and the full report, written in one
-- transaction and never changed afterwards.
CREATE SCHEMA IF NOT EXISTS drift;

CREATE TABLE drift.reports (
    id           uuid        PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('drift', 'performance', 'fairness')),
    -- The model the report is about, when there is one.
    model        text        CHECK (model ~ '^[a-z][a-z0-9-]{0,62}$'),
    summary      jsonb       NOT NULL CHECK (jsonb_typeof(summary) = 'object'),
    report       jsonb       NOT NULL CHECK (jsonb_typeof(report) = 'object'),
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reports_by_time ON drift.reports (created_at DESC);
CREATE INDEX reports_by_model_time ON drift.reports (model, created_at DESC);
