-- The orchestrator's durable workflows (ARCHITECTURE §5). Every transition
-- of a workflow or one of its nodes is one transaction that also appends to
-- `events`, the outbox the workflow's A2A task streams from.
CREATE SCHEMA IF NOT EXISTS orchestrator;

CREATE TABLE orchestrator.workflows (
    id             uuid        PRIMARY KEY,
    -- The orchestrator's own A2A task for this workflow.
    task_id        text        NOT NULL UNIQUE,
    context_id     text        NOT NULL,
    goal           jsonb       NOT NULL,
    policy         jsonb       NOT NULL,
    plan           jsonb       NOT NULL,
    -- running | waiting | completed | failed | rolled_back | rejected | canceled
    state          text        NOT NULL,
    reason         text,
    -- Facts known so far (model, version, holdout, …), read by node inputs.
    facts          jsonb       NOT NULL DEFAULT '{}',
    -- Whether traffic has been moved to the candidate (a failure then rolls back).
    traffic_moved  boolean     NOT NULL DEFAULT false,
    next_seq       bigint      NOT NULL DEFAULT 1,
    -- The last event the A2A task stream has handed on (at-least-once; the
    -- control plane deduplicates on the event id).
    delivered_seq  bigint      NOT NULL DEFAULT 0,
    lease_owner    text,
    lease_until    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_live ON orchestrator.workflows (state) WHERE state IN ('running', 'waiting');

CREATE TABLE orchestrator.nodes (
    workflow_id      uuid        NOT NULL REFERENCES orchestrator.workflows (id),
    node_id          text        NOT NULL,
    -- The plan node as planned (kind, agent, skill, input template, deps, why).
    spec             jsonb       NOT NULL,
    -- pending | working | input-required | completed | failed | canceled | skipped
    state            text        NOT NULL,
    attempt          integer     NOT NULL DEFAULT 0,
    message_id       text,
    delegated_task   text,
    output           jsonb,
    error            text,
    position         integer     NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (workflow_id, node_id)
);

CREATE TABLE orchestrator.events (
    workflow_id  uuid        NOT NULL REFERENCES orchestrator.workflows (id),
    seq          bigint      NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE orchestrator.gates (
    workflow_id  uuid        NOT NULL REFERENCES orchestrator.workflows (id),
    gate_id      text        NOT NULL,
    node_id      text        NOT NULL,
    -- open | approved | rejected | expired
    state        text        NOT NULL,
    description  text        NOT NULL,
    evidence     jsonb       NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    decided_by   text,
    comment      text,
    decided_at   timestamptz,
    PRIMARY KEY (workflow_id, gate_id)
);

-- Every approval token ever accepted, by its `jti`: a token works once.
CREATE TABLE orchestrator.used_approvals (
    jti          text        PRIMARY KEY,
    workflow_id  uuid        NOT NULL,
    gate_id      text        NOT NULL,
    used_at      timestamptz NOT NULL DEFAULT now()
);
