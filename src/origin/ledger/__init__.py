"""The ledger node: rules, storage, the commit pipeline, the HTTP API."""
