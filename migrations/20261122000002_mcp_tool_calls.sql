-- Owner: the MCP kit, on behalf of every MCP server. One row per tool call,
-- allowed or refused, so every action an agent takes can be traced.
CREATE SCHEMA IF NOT EXISTS mcp;

CREATE TABLE mcp.tool_calls (
    id           bigserial   PRIMARY KEY,
    server       text        NOT NULL,
    caller       text        NOT NULL,
    tool         text        NOT NULL,
    args_digest  text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('ok', 'error', 'refused')),
    detail       text,
    duration_ms  double precision NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tool_calls_by_server_time ON mcp.tool_calls (server, at DESC);
CREATE INDEX tool_calls_by_caller_time ON mcp.tool_calls (caller, at DESC);
