-- Owner: every A2A agent, through agents/kit. Each agent's tasks are keyed
-- by the agent's name, so agents can share one database without sharing data.
CREATE SCHEMA IF NOT EXISTS agents;

CREATE TABLE agents.tasks (
    agent        text        NOT NULL,
    task_id      text        NOT NULL,
    context_id   text        NOT NULL,
    state        text        NOT NULL,
    status_at    timestamptz NOT NULL,
    version      bigint      NOT NULL,
    history_len  integer     NOT NULL DEFAULT 0,
    task         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, task_id)
);

-- ListTasks pages newest-first by status time, then by id.
CREATE INDEX tasks_by_status_time ON agents.tasks (agent, status_at DESC, task_id DESC);
CREATE INDEX tasks_by_context ON agents.tasks (agent, context_id, status_at DESC);

-- Every messageId an agent has accepted. A sender's retry with the same id
-- is refused instead of running the work twice.
CREATE TABLE agents.received_messages (
    agent        text        NOT NULL,
    message_id   text        NOT NULL,
    task_id      text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, message_id)
);

CREATE TABLE agents.push_configs (
    agent        text        NOT NULL,
    task_id      text        NOT NULL,
    config_id    text        NOT NULL,
    config       jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, task_id, config_id)
);
