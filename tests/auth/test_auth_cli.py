"""`origin auth ...` for the operator: init, an operator, a client, a key rotation, the outbox;
refusals in one line."""

import json

from click.testing import CliRunner

from origin.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["auth", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_operators_commands(tmp_path):
    data = str(tmp_path / "auth")
    code, _, err = run("init", "--data", data, "--issuer", "http://auth.example.dk")
    assert code == 2 and err.startswith("origin: --issuer must be an https URL") and "Traceback" not in err
    code, out, _ = run("init", "--data", data, "--issuer", "https://auth.example.dk")
    assert code == 0 and json.loads(out)["issuer"] == "https://auth.example.dk"
    assert run("init", "--data", data, "--issuer", "https://auth.example.dk")[2] == (
        f"origin: {data} already holds an authorization server\n"
    )
    code, out, _ = run("add-operator", "--data", data, "--email", "Ops@Issuer.dk", "--name", "Ops",
                       "--password", "the operator's password")  # fmt: skip
    assert code == 0 and json.loads(out)["role"] == "operator"
    code, out, _ = run("register-client", "--data", data, "--owner", "ops@issuer.dk", "--name", "Importer",
                       "--scope", "operator", "--client-credentials")  # fmt: skip
    made = json.loads(out)
    assert code == 0 and made["client_secret"] and made["grant_types"] == ["client_credentials"]
    code, _, err = run("register-client", "--data", data, "--owner", "ops@issuer.dk", "--name", "App",
                       "--scope", "ggo.read", "--redirect-uri", "https://app.example/cb#x")  # fmt: skip
    assert code == 2 and "no fragment" in err
    assert run("register-client", "--data", data, "--owner", "nobody@x.dk", "--name", "A", "--scope", "ggo.read")[
        2
    ] == ("origin: no user nobody@x.dk\n")
    first = json.loads(run("rotate-key", "--data", data)[1])["signing_key"]
    assert first and first != json.loads(run("rotate-key", "--data", data)[1])["signing_key"]
    assert run("outbox", "--data", data)[2] == "the outbox is empty\n"
    assert run("outbox", "--data", str(tmp_path / "none"))[2].startswith("origin: ")
