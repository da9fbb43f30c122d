"""Crash soak: kill a ledger node with SIGKILL again and again under concurrent load, and check
after every restart that nothing answered COMMITTED was lost, replay agrees, and the new
checkpoint is consistent with every checkpoint published before (origin.ledger.soak).

    .venv/bin/python bench/crash_soak.py [--backend sqlite|postgres] [--kills 100] [--clients 8]
"""

import argparse
import tempfile
import time
from pathlib import Path

from harness.soak import Soak
from ledger_throughput import database_url
from origin.ledger import data as ledger_data
from origin.protocol import keys, note

LEDGER = "soak.origin/dk"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--run-s", type=float, default=1.5, help="longest load before a kill")
    args = parser.parse_args()

    issuer = keys.new_private_key()
    started = time.monotonic()
    with database_url(args.backend) as database, tempfile.TemporaryDirectory() as tmp:
        genesis = ledger_data.init(Path(tmp), LEDGER, [keys.public_key(issuer).hex()], database=database)
        soak = Soak(Path(tmp), database, issuer, LEDGER, note.Verifier.parse(genesis["log_key"]),
                    clients=args.clients)  # fmt: skip
        for i in range(args.kills):
            soak.round(args.run_s)
            print(f"\rkill {i + 1}/{args.kills}: {soak.answered} batches answered COMMITTED, "
                  f"log at {max(soak.checkpoints)} entries, all checks passed", end="", flush=True)  # fmt: skip
        soak.final_check()
    print(
        f"\n{args.backend}: survived {soak.kills} SIGKILLs in a row in {time.monotonic() - started:.0f} s; "
        f"{soak.answered} batches answered COMMITTED, none lost; {len(soak.checkpoints)} checkpoints, "
        f"each consistent with all before; replay agreed after every restart; refusals: {len(soak.errors)}"
    )


if __name__ == "__main__":
    main()
