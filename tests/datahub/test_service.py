"""The service's folder, configuration and schedule: made whole or not at all, readable by its
user only; an older folder's own API tokens dropped, its lacking authorization server named."""

import json
import os
import stat
import threading

import pytest

from origin.datahub import service
from origin.datahub.importer import Report
from origin.protocol import keys


def make(tmp_path, **kw):
    return service.init(tmp_path / "dh", **{"ledger_url": "http://l", "ledger_id": "x", "datahub_url": "http://d",
                                            "refresh_token": "r", "auth_issuer": "http://a", **kw})  # fmt: skip


def test_init_writes_private_files_and_refuses_twice(tmp_path):
    key = keys.new_private_key()
    made = make(tmp_path, issuer_key=key)
    assert made["issuer_public_key"] == keys.public_key(key).hex()
    assert stat.S_IMODE(os.stat(tmp_path / "dh").st_mode) == 0o700
    for name in (service.CONFIG, service.ISSUER_KEY, service.DATABASE):
        assert stat.S_IMODE(os.stat(tmp_path / "dh" / name).st_mode) == 0o600, name
    _, loaded = service.load(tmp_path / "dh")
    assert loaded == key
    with pytest.raises(service.ConfigError, match="already holds"):
        make(tmp_path)


@pytest.mark.parametrize("bad", [{"ledger_url": "ftp://x"}, {"datahub_url": "nope"}, {"database": "mysql://x"},
                                 {"auth_issuer": "auth.example"},
                                 {"database": "postgresql://postgres@127.0.0.1:1/nowhere"}])  # fmt: skip
def test_a_failed_init_leaves_nothing_behind(tmp_path, bad):
    with pytest.raises(service.ConfigError):
        make(tmp_path, **bad)
    assert not (tmp_path / "dh").exists()


def test_an_older_folder_loses_its_own_tokens_and_must_name_an_authorization_server(tmp_path):
    make(tmp_path)
    path = tmp_path / "dh" / service.CONFIG
    config = json.loads(path.read_text())
    config.update(tokens={"old-secret-token": {"subject": "customer-0", "role": "owner"}}, lookback_s=7200)
    path.write_text(json.dumps(config))
    loaded, _ = service.load(tmp_path / "dh")
    assert loaded.import_window_s == 7200 and not hasattr(loaded, "tokens")
    del config["auth_issuer"]
    path.write_text(json.dumps(config))
    with pytest.raises(service.ConfigError, match="names no authorization server"):
        service.load(tmp_path / "dh")


def test_a_folder_without_a_service(tmp_path):
    with pytest.raises(service.ConfigError, match="holds no DataHub service"):
        service.load(tmp_path)


def test_the_schedule_imports_and_goes_on_after_a_failure(tmp_path):
    make(tmp_path)
    svc = service.Service(tmp_path / "dh")
    svc.config.import_every_s = 0.01
    calls, two = [], threading.Event()

    def run(begin, end):
        calls.append((begin, end))
        if len(calls) == 1:
            raise OSError("DataHub down")
        two.set()
        return Report()

    svc.importer.run = run
    svc.start()
    assert two.wait(5)
    svc.stop()
    begin, end = calls[0]
    assert end % 3600 == 0 and end - begin == svc.config.import_window_s
