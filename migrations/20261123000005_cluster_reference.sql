-- Owner: the cluster MCP server. Each deployed version may carry the
-- dataset it was trained on, so observers (the monitoring agent, which has
-- no registry access) can check the live traffic against it for drift.
ALTER TABLE cluster.deployments
    ADD COLUMN reference_dataset text,
    ADD COLUMN reference_version text,
    ADD CONSTRAINT deployments_reference_whole
        CHECK ((reference_dataset IS NULL) = (reference_version IS NULL));
