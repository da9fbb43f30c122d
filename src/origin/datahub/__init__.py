"""The DataHub service: meters (GSRN), imports from the national DataHub, publishing and issuing."""
