"""The web app: the example application of the architecture, a person's dashboard, charts,
transfers, retirements, agreements, matching and verification, on the public APIs of the account
and DataHub services and the ledger, through OAuth2 like any third party's app."""
