-- Owner: the monitoring agent. Its retraining requests to the orchestrator
-- (the agent whose card offers `handle-retraining`), so that at most one is
-- open per model however many drift checks fire, across restarts and
-- replicas.
CREATE TABLE agents.monitoring_retraining_requests (
    -- The A2A messageId the request was sent with: deterministic per
    -- (model, seq), so a resend after a lost answer is a duplicate the
    -- orchestrator refuses rather than a second workflow.
    message_id            text        PRIMARY KEY,
    model                 text        NOT NULL,
    -- 1, 2, … per model.
    seq                   integer     NOT NULL CHECK (seq > 0),
    -- The agent asked, by its registry name.
    orchestrator          text        NOT NULL,
    orchestrator_task_id  text,
    -- The A2A task state at the last look, e.g. TASK_STATE_WORKING.
    state                 text        NOT NULL,
    -- Until the orchestrator's task reaches a terminal state.
    open                  boolean     NOT NULL,
    reason                text        NOT NULL,
    drift_report_id       text,
    -- "scheduler", or the monitoring task that asked.
    requested_by          text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    closed_at             timestamptz,
    UNIQUE (model, seq),
    CHECK (open = (closed_at IS NULL))
);

-- The invariant itself: one open request per model.
CREATE UNIQUE INDEX monitoring_retraining_one_open_per_model
    ON agents.monitoring_retraining_requests (model) WHERE open;
