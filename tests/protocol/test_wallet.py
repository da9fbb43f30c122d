"""BIP32 test vectors 1 to 3 (from BIP-0032), and the wallet conventions of section 4."""

import pytest
from bip32 import BIP32

from origin.protocol import addresses, keys, wallet

H = 0x80000000
VECTORS = [
    ("000102030405060708090a0b0c0d0e0f", [
        ([], "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
         "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
        ([H], "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
         "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"),
        ([H, 1], "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
         "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"),
        ([H, 1, H + 2], "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
         "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"),
        ([H, 1, H + 2, 2], "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
         "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"),
        ([H, 1, H + 2, 2, 1000000000], "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
         "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"),
    ]),
    ("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", [
        ([], "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
         "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"),
        ([0], "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
         "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt"),
        ([0, H + 2147483647], "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
         "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9"),
    ]),
    ("4b381541583be4423346c643850da4b320e46a87ae3d2a4e6da11eba819cd4acba45d239319ac14f863b8d5ab5a0d0c64d2e8a1e7d1457df2e5a3c51c73235be", [
        ([], "xpub661MyMwAqRbcEZVB4dScxMAdx6d4nFc9nvyvH3v4gJL378CSRZiYmhRoP7mBy6gSPSCYk6SzXPTf3ND1cZAceL7SfJ1Z3GC8vBgp2epUt13",
         "xprv9s21ZrQH143K25QhxbucbDDuQ4naNntJRi4KUfWT7xo4EKsHt2QJDu7KXp1A3u7Bi1j8ph3EGsZ9Xvz9dGuVrtHHs7pXeTzjuxBrCmmhgC6"),
        ([H], "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y",
         "xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L"),
    ]),
]  # fmt: skip


@pytest.mark.parametrize("seed,chains", VECTORS, ids=["vector-1", "vector-2", "vector-3"])
def test_bip32_vectors(seed, chains):
    master = BIP32.from_seed(bytes.fromhex(seed))
    for path, xpub, xprv in chains:
        assert master.get_xpub_from_path(path) == xpub
        assert master.get_xpriv_from_path(path) == xprv
        # what an issuer derives publicly from a parent xpub matches the private derivation
        if path and path[-1] < H:
            parent = BIP32.from_xpub(master.get_xpub_from_path(path[:-1]))
            assert parent.get_xpub_from_path([path[-1]]) == xpub


def test_wallet_keeps_the_master_key():
    w = wallet.Wallet.generate()
    again = wallet.Wallet.from_xprv(w.xprv)
    assert again.xpub == w.xpub and again.public_key == w.public_key
    assert w.xpub == BIP32.from_xpriv(w.xprv).get_xpub()


def test_issuer_and_owner_derive_the_same_measurement_key():
    owner = wallet.Wallet.generate()
    xpub = owner.meter_xpub(3)  # what the issuing body is given
    assert xpub == BIP32.from_xpriv(owner.xprv).get_xpub_from_path([H + 1, H + 3])
    begin = 1_767_225_600  # 2026-01-01T00:00:00Z
    private = owner.measurement_key(3, begin)
    assert keys.public_key(private) == wallet.measurement_public_key(xpub, begin)
    assert wallet.measurement_address(xpub, begin) == addresses.address("measurement", keys.public_key(private))
    assert private == owner.private_key([H + 1, H + 3, begin // 60])


def test_measurement_keys_differ_per_minute_and_meter():
    owner = wallet.Wallet.generate()
    begin = 1_767_225_600
    quarter = {wallet.measurement_address(owner.meter_xpub(0), begin + q * 900) for q in range(4)}
    assert len(quarter) == 4
    assert wallet.measurement_address(owner.meter_xpub(1), begin) not in quarter


def test_receive_keys_are_m_0h_n():
    owner = wallet.Wallet.generate()
    assert owner.receive_key(0) == owner.private_key([H, 0])
    assert owner.receive_key(0) != owner.receive_key(1)


def test_minute_index_edges():
    assert wallet.minute_index(59) == 0 and wallet.minute_index(60) == 1
    with pytest.raises(ValueError):
        wallet.minute_index(2**31 * 60)
