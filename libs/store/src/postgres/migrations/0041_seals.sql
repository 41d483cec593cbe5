-- Each tenant's hash chain over its events, one link per event in log order, written by the
-- sealer behind the appends (docs/adr/0052-the-log-is-sealed-in-a-hash-chain-per-tenant.md).
-- How far it has sealed is its checkpoint ('sealer').
CREATE TABLE seals (
    tenant        TEXT NOT NULL,
    position      BIGINT NOT NULL,
    event_sha256  BYTEA NOT NULL,
    chain_sha256  BYTEA NOT NULL,
    sealed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, position)
);
