"""The ``wangge`` console command: Django's management commands plus the project's own.

``wangge demo``, ``wangge serve``, ``wangge locate LON LAT``, ``wangge import-grids FILE``,
``wangge export-grids CODE`` … Every command takes ``--data-dir DIR`` (or ``WANGGE_DATA_DIR``;
default ``./wangge-data``). Command names may be written with dashes or underscores.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

# Commands that create or serve a data directory (and so need its persistent secret key).
_INITIALISING = {"demo", "serve", "migrate", "runserver", "createsuperuser"}


def _pop_data_dir(argv: list[str]) -> list[str]:
    out: list[str] = []
    it = iter(range(len(argv)))
    skip = False
    for i in it:
        if skip:
            skip = False
            continue
        arg = argv[i]
        if arg == "--data-dir":
            if i + 1 >= len(argv):
                sys.exit("wangge: --data-dir needs a directory")
            os.environ["WANGGE_DATA_DIR"] = argv[i + 1]
            skip = True
        elif arg.startswith("--data-dir="):
            os.environ["WANGGE_DATA_DIR"] = arg.split("=", 1)[1]
        else:
            out.append(arg)
    return out


def ensure_data_dir() -> Path:
    """Create the data directory and its secret key file once."""
    data_dir = Path(os.environ.get("WANGGE_DATA_DIR", "wangge-data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = data_dir / "secret_key"
    if not key.exists() and not os.environ.get("WANGGE_SECRET_KEY"):
        try:
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return data_dir
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return data_dir


def main(argv: list[str] | None = None) -> None:
    argv = _pop_data_dir(list(sys.argv if argv is None else argv))
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
        if argv[1] in _INITIALISING:
            ensure_data_dir()
        elif not os.environ.get("DATABASE_URL"):
            # SQLite needs the directory of its file to exist, even to report an empty database.
            Path(os.environ.get("WANGGE_DATA_DIR", "wangge-data")).mkdir(
                parents=True, exist_ok=True
            )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    from django.core.management import execute_from_command_line

    argv[0] = "wangge"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
