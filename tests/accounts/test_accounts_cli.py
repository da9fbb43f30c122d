"""The commands, as an operator and an owner meet them: one-line refusals, never a traceback."""

import json

from accounts_world import served
from click.testing import CliRunner

from origin.accounts import service
from origin.cli import main


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def init(folder, **options):
    """`origin accounts init` with working URLs, but for those `options` give."""
    urls = {"ledger_url": "http://l", "datahub_url": "http://d", "auth_issuer": "http://a", **options}
    return run("accounts", "init", "--data", folder,
               *[x for k, v in urls.items() for x in ("--" + k.replace("_", "-"), v)])  # fmt: skip


def test_init_refuses_bad_input_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "acc"
    r = init(folder, ledger_url="ftp://x")
    assert r.exit_code == 2 and "--ledger-url must be a http or https URL" in r.output and not folder.exists()
    r = init(folder, database="postgresql://nobody@127.0.0.1:1/none")
    assert r.exit_code == 2 and "cannot use the database" in r.output and not folder.exists()
    r = init(folder, auth_issuer="auth.example")
    assert r.exit_code == 2 and "--auth-issuer must be a http or https URL" in r.output and not folder.exists()
    bad = tmp_path / "bad.kek"
    bad.write_text("not hex")
    r = init(folder, kek=bad)
    assert r.exit_code == 2 and "64 hex characters" in r.output and not folder.exists()
    r = init(folder)
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["kek_file"] and (folder / "kek.hex").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    r = init(folder)
    assert r.exit_code == 2 and "already holds an account service" in r.output


def test_open_rewrap_and_a_wrong_kek(tmp_path):
    folder = tmp_path / "acc"
    assert init(folder).exit_code == 0
    r = run("accounts", "open", "--data", folder, "--name", "Solar Ltd")
    assert r.exit_code == 0 and json.loads(r.output)["id"].startswith("acc_")
    assert run("accounts", "new-kek", tmp_path / "new.kek").exit_code == 0
    again = run("accounts", "new-kek", tmp_path / "new.kek")
    assert again.exit_code == 2 and "never overwritten" in again.output
    r = run("accounts", "rewrap-keys", "--data", folder, "--new-kek", tmp_path / "new.kek")
    assert r.exit_code == 0 and "1 accounts re-wrapped" in r.output, r.output
    assert service.load(folder).kek_file == str((tmp_path / "new.kek").resolve())
    r = run("accounts", "open", "--data", folder, "--name", "Other", "--kek", folder / "kek.hex")
    assert r.exit_code == 2 and "sealed under key-encryption key" in r.output
    r = run("accounts", "open", "--data", folder, "--name", "x" * 201)
    assert r.exit_code == 2 and "1 to 200 characters" in r.output


def test_reconcile_with_the_ledger_away_is_one_line(tmp_path):
    folder = tmp_path / "acc"
    init(folder, ledger_url="http://127.0.0.1:9")
    r = run("accounts", "reconcile", "--data", folder)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "does not answer" in r.output
    r = run("accounts", "serve", "--data", tmp_path / "none")
    assert r.exit_code == 2 and "holds no account service" in r.output


def test_an_owner_lists_transfers_and_retires_from_the_command_line(world):
    producer, consumer = world.producer_and_consumer()
    with served(world.service.app()) as url:
        owner = {"ORIGIN_ACCOUNT_URL": url, "ORIGIN_ACCOUNT_TOKEN": producer["token"]}
        r = run("account", "ggos", "--state", "available", "--json", env=owner)
        assert r.exit_code == 0, r.output
        ggos = json.loads(
            r.output.split("\n", 1)[1] if r.output.startswith("{") else r.output[: r.output.rindex("]") + 1]
        )
        assert ggos and all(g["state"] == "available" for g in ggos)
        r = run("account", "transfer", "--to", consumer["id"], "--ggo", ggos[0]["address"], "--amount-wh", 1, env=owner)
        assert r.exit_code == 0, r.output
        op, status = r.stdout.split()
        assert status == "COMMITTED"
        r = run("account", "status", op, env=owner)
        assert json.loads(r.output)["status"] == "COMMITTED"
        r = run("account", "transfer", "--to", consumer["id"], "--ggo", ggos[0]["address"], env=owner)
        assert r.exit_code == 2 and r.output.startswith("origin: already_used") and r.output.count("\n") == 1
        buyer = {**owner, "ORIGIN_ACCOUNT_TOKEN": consumer["token"]}
        r = run("account", "retire", "--from", "2025-10-25T00:00:00Z", "--until", "2025-10-28T00:00:00Z", env=buyer)
        assert r.exit_code == 0 and "COMMITTED" in r.output, r.output
        r = run("account", "ggos", env={**owner, "ORIGIN_ACCOUNT_TOKEN": "wrong"})
        assert r.exit_code == 2 and "unauthenticated" in r.output
    r = run("account", "ggos", env=owner)
    assert r.exit_code == 2 and "does not answer" in r.output


def test_agreements_automation_matching_and_the_report_from_the_command_line(world, tmp_path):
    producer, consumer = world.producer_and_consumer()
    with served(world.service.app()) as url:
        seller = {"ORIGIN_ACCOUNT_URL": url, "ORIGIN_ACCOUNT_TOKEN": producer["token"]}
        buyer = {**seller, "ORIGIN_ACCOUNT_TOKEN": consumer["token"]}
        r = run("account", "propose", "--from-account", producer["id"], "--rule", "unmatched", "--begin",
                "2025-10-01T00:00:00Z", env=buyer)  # fmt: skip
        assert r.exit_code == 0, r.output
        agreement, status = r.stdout.split()
        assert status == "PROPOSED"
        assert run("account", "agreement", agreement, "accept", env=buyer).exit_code == 2  # the proposer cannot
        assert run("account", "agreement", agreement, "accept", env=seller).stdout.split() == [agreement, "ACCEPTED"]
        for env in (seller, buyer):
            assert run("account", "automation", "on", env=env).exit_code == 0
        world.service.tick(0)
        world.service.tick(0)
        listed = run("account", "agreements", env=seller).stdout
        assert agreement in listed and "ACCEPTED" in listed and " 0 Wh transferred" not in listed
        r = run("account", "matching", "--from", "2025-10-25T00:00:00Z", "--until", "2025-10-28T00:00:00Z", env=buyer)
        assert r.exit_code == 0 and r.stdout.startswith("2025-10-26"), r.output
        out = tmp_path / "report.html"
        r = run("account", "report", "--from", "2025-10-25T00:00:00Z", "--until", "2025-10-28T00:00:00Z", "--out", out,
                env=buyer)  # fmt: skip
        assert r.exit_code == 0 and "matched hour by hour" in out.read_text()
        r = run("account", "propose", "--rule", "cap", "--begin", "2025-10-01T00:00:00Z", env=buyer)
        assert r.exit_code == 2 and "--to" in r.output
