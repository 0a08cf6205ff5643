-- Owner: the registry MCP server. Models, their versions with lineage, and
-- the aliases (champion, challenger) that say which version serves.
CREATE SCHEMA IF NOT EXISTS registry;

CREATE TABLE registry.models (
    name         text        PRIMARY KEY,
    description  text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.versions (
    model                 text        NOT NULL REFERENCES registry.models (name),
    version               integer     NOT NULL CHECK (version > 0),
    status                text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    params                jsonb       NOT NULL DEFAULT '{}',
    metrics               jsonb       NOT NULL DEFAULT '{}',
    dataset_digest        text        NOT NULL,
    training_run_id       text        NOT NULL,
    artifact_uri          text        NOT NULL,
    code_digest           text,
    protected_attribute   text,
    created_by            text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    archived_at           timestamptz,
    PRIMARY KEY (model, version)
);

CREATE TABLE registry.aliases (
    model        text        NOT NULL,
    alias        text        NOT NULL,
    version      integer     NOT NULL,
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES registry.versions (model, version)
);
