"""The protocol of PROTOCOL.md: pure functions, no I/O. Every other part builds on it."""
