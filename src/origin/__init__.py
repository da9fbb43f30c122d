"""Origin: a verifiable registry for Granular Guarantees of Origin."""
