"""Every limit of Origin, named once: the code, the OpenAPI schemas and the tests use these.

The first block is the protocol's (PROTOCOL.md); the rest are this implementation's bounds on
what a stranger can make it hold or do. Each is tested at N and at N + 1.
"""

# PROTOCOL.md section 1: integers on the wire.
INT_MAX = 2**53 - 1
INT_DIGITS_MAX = len(str(INT_MAX))  # a longer integer literal is out of range, unread
# Section 5 and 8: names.
SECTOR_LENGTH_MAX = 64
LEDGER_ID_LENGTH_MAX = 128
# Section 6: split parts and settlement updates.
SPLIT_PARTS_MIN = 2
PARTS_MAX = 256
# Section 7: a batch. Its log entry, the batch plus at most 63 bytes of seq and time, then
# always fits the uint16 length that frames an entry in a tlog-tiles entry bundle.
BATCH_TRANSACTIONS_MAX = 1024
BATCH_BYTES_MAX = 65_000
ENTRY_BYTES_MAX = 0xFFFF

# HTTP: bodies are counted while they stream, before anything parses or authenticates them.
# A batch may arrive with insignificant whitespace; its canonical form is held to
# BATCH_BYTES_MAX once parsed.
BATCH_BODY_BYTES_MAX = 4 * BATCH_BYTES_MAX
JSON_BODY_BYTES_MAX = 1024 * 1024  # any other JSON request body, on every service
HEADER_READ_S_MAX = 10.0  # from a connection's first byte (or its last request) to a whole head
BODY_READ_S_MAX = 30.0  # for a whole request body
KEEP_ALIVE_S = 5
WAIT_S_MAX = 30.0  # POST /v1/batches?wait=true
PATH_NUMBER_DIGITS_MAX = INT_DIGITS_MAX  # a seq or size in a path or query

# The ledger node: its queue and commit groups.
QUEUE_BATCHES_MAX = 4096
GROUP_BATCHES_MAX = 256
GROUP_TRANSACTIONS_MAX = 16_384
REFUSED_KEPT_MAX = 100_000  # INVALID outcomes kept, in memory, the newest
# Provenance bundles: the entries of one GGO's history (its chain, its retirement and the
# chains of the GGOs retired with it); each entry at most ENTRY_BYTES_MAX.
PROVENANCE_ENTRIES_MAX = 512
BUNDLE_BYTES_MAX = 2 * PROVENANCE_ENTRIES_MAX * ENTRY_BYTES_MAX  # as JSON, with proofs
# tlog-tiles: a tile index below 2^64 has at most 7 groups of 3 digits (x018/x446/...).
TILE_INDEX_GROUPS_MAX = 7
TILE_LEVEL_MAX = 63

# The witness: entries fetched per sync.
WITNESS_ENTRIES_PER_SYNC_MAX = 10_000

# Storage: host parameters in one SQL statement.
SQL_PARAMETERS_MAX = 500

# The DataHub service's API.
LIST_LIMIT_MAX = 10_000
