"""Whose measurement is this? The inventory derives a measurement's address from its meters'
xpubs lazily, the meter that matched last first; whatever the order of the log, its answer is
the one deriving every meter would give, and a stranger's measurement is nobody's."""

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert

from origin.accounts import db
from origin.accounts.inventory import Inventory
from origin.protocol import wallet
from origin.protocol.transactions import CONSUMPTION, PRODUCTION

BEGIN_S = 1_760_000_400  # a quarter hour
WALLETS = [wallet.Wallet.from_seed(bytes([i]) * 32) for i in range(3)]
STRANGER = wallet.Wallet.from_seed(b"s" * 32).meter_xpub(0)
METERS = [(f"acc{a}", m, PRODUCTION if (a + m) % 2 else CONSUMPTION) for a in range(3) for m in range(3)]


def inventory() -> Inventory:
    engine = create_engine("sqlite://")
    db.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(db.meters), [{"account": account, "idx": m, "gsrn": f"57131300000000{a}{m}{a}{m}",
                                          "xpub": WALLETS[int(account[3:])].meter_xpub(m), "type": kind,
                                          "added_s": 0} for a, (account, m, kind) in enumerate(METERS)])  # fmt: skip
    found = Inventory(engine, None, lambda conn, events: None)  # type: ignore[arg-type]
    with engine.connect() as conn:
        found._load_meters(conn)
    return found


# A log: measurements of our meters and of a stranger's, at quarter hours, in any order.
logs = st.lists(st.tuples(st.integers(-1, len(METERS) - 1), st.integers(0, 11)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(logs)
def test_the_owner_found_lazily_is_the_owner(log):
    found = inventory()
    for meter, quarter in log:
        begin_s = BEGIN_S + 900 * quarter
        if meter < 0:
            kind = PRODUCTION if quarter % 2 else CONSUMPTION
            assert found._measurement_owner(begin_s, kind, wallet.measurement_address(STRANGER, begin_s)) is None
            continue
        account, m, kind = METERS[meter]
        address = wallet.measurement_address(WALLETS[int(account[3:])].meter_xpub(m), begin_s)
        assert found._measurement_owner(begin_s, kind, address) == (account, m)
        other = CONSUMPTION if kind == PRODUCTION else PRODUCTION
        assert found._measurement_owner(begin_s, other, address) is None  # a type is part of what is certified
