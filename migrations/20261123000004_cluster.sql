-- Owner: the cluster MCP server. The desired state of every deployment:
-- which versions of a model run, how many replicas each, the traffic split
-- and any injected fault. Backends reconcile running processes (or
-- Kubernetes objects) towards these rows.
CREATE SCHEMA IF NOT EXISTS cluster;

CREATE TABLE cluster.models (
    model        text        PRIMARY KEY,
    -- Bumped by every change to the model's routes, so a router never
    -- takes an older table over a newer one.
    generation   bigint      NOT NULL DEFAULT 1,
    -- The local backend keeps a model's router on one port across restarts,
    -- so clients keep their endpoint. NULL until first started.
    local_router_port integer CHECK (local_router_port BETWEEN 1 AND 65535),
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cluster.deployments (
    model             text        NOT NULL REFERENCES cluster.models (model) ON DELETE CASCADE,
    version           integer     NOT NULL CHECK (version > 0),
    artifact_key      text        NOT NULL,
    replicas          integer     NOT NULL CHECK (replicas BETWEEN 0 AND 16),
    weight            integer     NOT NULL DEFAULT 0 CHECK (weight BETWEEN 0 AND 100),
    error_share       double precision NOT NULL DEFAULT 0 CHECK (error_share BETWEEN 0 AND 1),
    added_latency_ms  integer     NOT NULL DEFAULT 0 CHECK (added_latency_ms BETWEEN 0 AND 30000),
    -- Bumped by rollout_restart; replicas started under an older value are
    -- replaced one at a time.
    restart_epoch     integer     NOT NULL DEFAULT 0,
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);
