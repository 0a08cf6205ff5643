-- The control plane's data (ARCHITECTURE §3): users, sessions, the
-- workflows it started or follows, their graph and events, gates, the
-- audit log and personal API tokens.
CREATE SCHEMA IF NOT EXISTS control;

-- tower-sessions' Postgres store, in our schema (its own layout).
CREATE TABLE control.sessions (
    id text PRIMARY KEY NOT NULL,
    data bytea NOT NULL,
    expiry_date timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON control.sessions (expiry_date);

-- Upserted at every sign-in; roles are what the claim mapping gave then.
CREATE TABLE control.users (
    subject text PRIMARY KEY,
    name text,
    email text,
    groups text[] NOT NULL DEFAULT '{}',
    roles text[] NOT NULL DEFAULT '{}',
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_login timestamptz NOT NULL DEFAULT now()
);

-- A goal the control plane sent. Its push token (hashed) authenticates the
-- orchestrator's webhook calls for the one task it created.
CREATE TABLE control.workflow_requests (
    id uuid PRIMARY KEY,
    push_token_hash bytea NOT NULL UNIQUE,
    goal jsonb NOT NULL,
    requested_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    task_id text UNIQUE
);

-- One row per orchestrator workflow; its id is the orchestrator's A2A task id.
CREATE TABLE control.workflows (
    id text PRIMARY KEY,
    request_id uuid REFERENCES control.workflow_requests (id),
    kind text NOT NULL,
    model text,
    version integer,
    goal jsonb NOT NULL,
    requested_by text NOT NULL,
    state text NOT NULL DEFAULT 'submitted',
    summary text,
    plan jsonb,
    last_seq bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_recent ON control.workflows (created_at DESC);

CREATE TABLE control.graph_nodes (
    workflow text NOT NULL REFERENCES control.workflows (id),
    node text NOT NULL,
    title text NOT NULL,
    kind text NOT NULL,
    agent text,
    skill text,
    state text NOT NULL DEFAULT 'pending',
    task_id text,
    why text,
    progress text,
    error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow, node)
);

CREATE TABLE control.graph_edges (
    workflow text NOT NULL REFERENCES control.workflows (id),
    source text NOT NULL,
    target text NOT NULL,
    PRIMARY KEY (workflow, source, target)
);

-- Every event users see. `id` is the SSE event id; `source_event_id` is the
-- orchestrator's eventId, so a redelivered delta is stored once.
CREATE TABLE control.events (
    id bigserial PRIMARY KEY,
    workflow text REFERENCES control.workflows (id),
    source_event_id text UNIQUE,
    kind text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_workflow ON control.events (workflow, id);

CREATE TABLE control.gates (
    workflow text NOT NULL REFERENCES control.workflows (id),
    gate text NOT NULL,
    node text NOT NULL,
    description text NOT NULL,
    role text NOT NULL,
    requested_by text NOT NULL,
    evidence jsonb NOT NULL DEFAULT '{}',
    expires_at timestamptz,
    state text NOT NULL DEFAULT 'open',
    decided_by text,
    comment text,
    opened_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    PRIMARY KEY (workflow, gate)
);
CREATE INDEX gates_open ON control.gates (opened_at) WHERE state = 'open';

-- Append-only and hash-chained: hash = sha256(prev_hash || row content).
CREATE TABLE control.audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    outcome text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);
CREATE INDEX audit_by_actor ON control.audit (actor, id);
CREATE INDEX audit_by_action ON control.audit (action, id);

CREATE FUNCTION control.audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'control.audit is append-only';
END;
$$;
CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON control.audit
    FOR EACH STATEMENT EXECUTE FUNCTION control.audit_is_append_only();

-- Personal API tokens: only a sha256 of the secret is kept.
CREATE TABLE control.api_tokens (
    id uuid PRIMARY KEY,
    subject text NOT NULL REFERENCES control.users (subject),
    name text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);

-- The one definition of an audit row's hash, used to append and to verify.
-- Postgres renders jsonb and the epoch the same way every time, so the
-- hash does not depend on a client's JSON or time-zone formatting.
CREATE FUNCTION control.audit_row_hash(
    prev bytea, at timestamptz, actor text, action text, target text,
    outcome text, detail jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(
        json_build_array(
            (extract(epoch FROM at) * 1000000)::bigint::text,
            actor, action, target, outcome, detail::text
        )::text, 'UTF8'))
$$;
