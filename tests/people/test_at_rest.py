"""No plaintext ID number or phone reaches the SQLite database file (nor its WAL)."""

import os
import sqlite3
import subprocess
import sys

from wangge.people.crypto import Field, Keyring


def test_database_file_holds_no_plaintext_numbers(tmp_path):
    env = {
        **os.environ,
        "WANGGE_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "wangge.settings",
    }
    env.pop("DATABASE_URL", None)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wangge.cli import main; main()",
            "demo",
            "--no-serve",
            "--residents",
            "300",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    keys = Keyring.load(tmp_path, {})
    db = tmp_path / "wangge.sqlite3"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id_number_enc, phone_enc FROM people_resident").fetchall()
    numbers = [keys.decrypt(i, field=Field.ID_NUMBER) for i, _p in rows if i]
    numbers += [keys.decrypt(p, field=Field.PHONE) for _i, p in rows if p]
    assert len(numbers) > 300
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("wangge.sqlite3*"))
    leaked = [n for n in numbers if n.encode() in blob]
    assert leaked == []
