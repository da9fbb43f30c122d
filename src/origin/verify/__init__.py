"""Verification for everyone: the offline provenance verifier and the witness."""
