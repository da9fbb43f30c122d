"""What every service's folder shares: files readable by the service's user only, URLs checked
before anything is made, a database opened with one clear refusal, and work repeated on a
schedule in the background."""

import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("origin")
DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")
T = TypeVar("T")


class ConfigError(Exception):
    """A folder, setting or database the service cannot use: the message says which and why."""


def write_private(path: Path, text: str) -> None:
    """A new file, readable and writable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def rewrite_private(path: Path, text: str) -> None:
    """Replace a file readable by its owner only, atomically."""
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    write_private(new, text)
    os.replace(new, path)


def check_url(name: str, value: str, schemes: tuple[str, ...] = ("http://", "https://")) -> str:
    if not isinstance(value, str) or not value.startswith(schemes) or len(value) > 2000:
        raise ConfigError(f"{name} must be a {' or '.join(s.rstrip(':/') for s in schemes)} URL, not {value[:80]!r}")
    return value.rstrip("/")


def open_database(url: str, connect: Callable[[str], Engine]) -> Engine:
    """The service's database, its schema in place and its files private; ConfigError if not."""
    try:
        engine = connect(url)
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigError(f"cannot use the database {url}: {str(exc).splitlines()[0]}") from None
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists():
                file.chmod(0o600)
    return engine


def every(
    stop: threading.Event, period_s: float, work: Callable[[], None], wake: threading.Event | None = None
) -> None:
    """Run `work` every `period_s` (or when `wake` is set) until `stop` is: a failure is logged
    and the work tried again next period, so the work must be idempotent."""
    while not stop.is_set():
        try:
            work()
        except Exception:  # logged, and tried again next period
            log.exception("scheduled work failed")
        (wake or stop).wait(period_s)
        if wake is not None:
            wake.clear()


@contextlib.contextmanager
def making(data: Path, files: tuple[str, ...]) -> Iterator[Path]:
    """The service's folder (mode 0700) while it is filled: all of it or nothing. Should the
    filling fail, its files are removed, and the folder too if it was made here."""
    made_folder = not data.exists()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        yield data
    except BaseException:
        for name in files:
            (data / name).unlink(missing_ok=True)
        if made_folder:
            shutil.rmtree(data, ignore_errors=True)
        raise


def load_config(path: Path, make: Callable[..., T], what: str, init: str,
                adapt: Callable[[dict[str, Any]], dict[str, Any]] = lambda raw: raw) -> T:  # fmt: skip
    """A service's configuration file, made into `make(**its fields)` (after `adapt` brought an
    older file's fields up to date); ConfigError saying what to do when it is missing or wrong."""
    try:
        return make(**adapt(json.loads(path.read_text())))
    except FileNotFoundError:
        raise ConfigError(f"{path.parent} holds no {what} (run `{init}` first)") from None
    except (TypeError, ValueError) as exc:
        if "auth_issuer" in str(exc):
            raise ConfigError(f"{path} names no authorization server: add \"auth_issuer\", the URL of the one "
                              "whose access tokens the API takes") from None  # fmt: skip
        raise ConfigError(f"{path} is not a valid configuration: {exc}") from None
