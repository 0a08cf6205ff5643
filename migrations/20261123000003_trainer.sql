-- Owner: the trainer MCP server. Training jobs (one model fit each), their
-- log lines, and hyperparameter searches (a set of trial jobs).
CREATE SCHEMA IF NOT EXISTS trainer;

CREATE TABLE trainer.searches (
    id                   uuid        PRIMARY KEY,
    dataset_name         text        NOT NULL,
    dataset_version      text        NOT NULL,
    target               text        NOT NULL,
    algorithm            text        NOT NULL,
    strategy             text        NOT NULL CHECK (strategy IN ('grid', 'random')),
    -- The search space as given: hyperparameter -> values or range.
    space                jsonb       NOT NULL,
    metric               text        NOT NULL,
    seed                 bigint      NOT NULL CHECK (seed >= 0),
    submitted_by         text        NOT NULL,
    submitted_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trainer.jobs (
    id                   uuid        PRIMARY KEY,
    dataset_name         text        NOT NULL,
    -- 64 hex digits: the dataset's content hash (its digest is "sha256:" || this).
    dataset_version      text        NOT NULL,
    target               text        NOT NULL,
    features             text[]      NOT NULL,
    -- mlops_models::Algorithm as JSON, hyperparameters filled in.
    algorithm            jsonb       NOT NULL,
    seed                 bigint      NOT NULL CHECK (seed >= 0),
    validation_fraction  double precision NOT NULL CHECK (validation_fraction > 0 AND validation_fraction < 1),
    backend              text        NOT NULL,
    state                text        NOT NULL DEFAULT 'queued'
                                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    progress             double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    error                text,
    artifact_uri         text,
    artifact_sha256      text,
    metrics              jsonb,
    search_id            uuid        REFERENCES trainer.searches (id),
    trial_index          integer,
    -- The runner process holding a running job, and its last sign of life;
    -- a running job whose heartbeat is older than the lease is orphaned.
    runner_id            uuid,
    heartbeat_at         timestamptz,
    submitted_by         text        NOT NULL,
    submitted_at         timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    CHECK ((search_id IS NULL) = (trial_index IS NULL))
);

CREATE INDEX jobs_queued ON trainer.jobs (submitted_at, id) WHERE state = 'queued';
CREATE INDEX jobs_running ON trainer.jobs (heartbeat_at) WHERE state = 'running';
CREATE INDEX jobs_by_time ON trainer.jobs (submitted_at DESC);
CREATE INDEX jobs_by_search ON trainer.jobs (search_id, trial_index) WHERE search_id IS NOT NULL;

CREATE TABLE trainer.job_logs (
    job_id               uuid        NOT NULL REFERENCES trainer.jobs (id),
    seq                  integer     NOT NULL CHECK (seq > 0),
    at                   timestamptz NOT NULL DEFAULT now(),
    line                 text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);
