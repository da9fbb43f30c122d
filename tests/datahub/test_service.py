"""The service's folder, configuration and schedule."""

import os
import threading

import pytest

from origin.datahub import service
from origin.datahub.importer import Report
from origin.protocol import keys


def make(tmp_path, **kw):
    return service.init(tmp_path / "dh", ledger_url="http://l", ledger_id="x", datahub_url="http://d",
                        refresh_token="r", **kw)  # fmt: skip


def test_init_writes_private_files_and_refuses_twice(tmp_path):
    key = keys.new_private_key()
    made = make(tmp_path, issuer_key=key)
    assert made["issuer_public_key"] == keys.public_key(key).hex()
    for name in (service.CONFIG, service.ISSUER_KEY):
        assert oct(os.stat(tmp_path / "dh" / name).st_mode & 0o777) == "0o600"
    config, loaded = service.load(tmp_path / "dh")
    assert loaded == key and config.tokens[made["issuer_api_token"]]["role"] == "issuer"
    with pytest.raises(service.ConfigError, match="already holds"):
        make(tmp_path)


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
    assert end % 3600 == 0 and end - begin == svc.config.lookback_s
