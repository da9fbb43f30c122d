"""C2SP signed notes, checked against the Go `note` package's published example."""

import pytest

from origin.protocol import note

SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
SIGNED = (
    TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_note_example():
    signer = note.Signer.parse(SKEY)
    assert str(signer) == SKEY and str(signer.verifier) == VKEY
    assert signer.sign(TEXT) == SIGNED  # Ed25519 is deterministic: byte for byte
    assert note.open_note(SIGNED, note.Verifier.parse(VKEY)) == TEXT


def test_tampered_notes_are_refused():
    verifier = note.Verifier.parse(VKEY)
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(SIGNED.replace("cryptography", "Cryptography"), verifier)
    with pytest.raises(note.NoteError, match="no signature"):
        note.open_note(SIGNED, note.Signer.generate("PeterNeumann").verifier)
    for broken in (TEXT, SIGNED.replace("\u2014", "-"), SIGNED[:-1], SIGNED.replace("x08go", "x08g!")):
        with pytest.raises(note.NoteError):
            note.open_note(broken, verifier)


@pytest.mark.parametrize("vkey", ["PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                                  "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                                  "PeterNeumann+c74f20a3", "PeterNeumann+c74f20a3+AAAA"])  # fmt: skip
def test_bad_verifier_keys(vkey):
    with pytest.raises(note.NoteError):
        note.Verifier.parse(vkey)


def test_checkpoint_round_trip():
    cp = note.Checkpoint("origin.test/dk", 42, bytes(range(32)))
    assert cp.text() == "origin.test/dk\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert note.Checkpoint.parse(cp.text()) == cp
    signer = note.Signer.generate("origin.test/dk")
    assert note.Checkpoint.parse(note.open_note(signer.sign(cp.text()), signer.verifier)) == cp
    for bad in ("x\n042\nAA==\n", "x\n1\n", "x\n1\nAAEC\n", "x\n-1\n" + "A" * 43 + "=\n"):
        with pytest.raises(note.NoteError):
            note.Checkpoint.parse(bad)


def test_checkpoint_sizes_are_ascii_decimal():
    with pytest.raises(note.NoteError):
        note.Checkpoint.parse("x\n４２\n" + "A" * 43 + "=\n")
