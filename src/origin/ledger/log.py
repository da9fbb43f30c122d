"""Log entries (PROTOCOL.md section 8): canonical JSON, entry 0 the genesis, entry n >= 1 the
n-th committed batch with its sequencing time."""

from origin.protocol.canonical import canonical
from origin.protocol.times import format_time


def genesis_entry(genesis: dict, time_s: int) -> bytes:
    return canonical({"seq": 0, "time": format_time(time_s), "genesis": genesis})


def batch_entry(seq: int, time_s: int, batch_canonical: bytes) -> bytes:
    """canonical({"seq", "time", "batch"}), assembled around the batch's canonical bytes
    (keys in code point order: batch, seq, time) so the batch is not encoded twice."""
    return b'{"batch":%s,"seq":%d,"time":"%s"}' % (batch_canonical, seq, format_time(time_s).encode())
