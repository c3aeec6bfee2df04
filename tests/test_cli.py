import os
import subprocess
import sys


def test_cli_maps_dashes_and_takes_data_dir(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "wangge.settings"}
    env.pop("DATABASE_URL", None)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wangge.cli import main; main()",
            "--data-dir",
            str(tmp_path / "d"),
            "export-grids",
            "--help",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "GeoJSON" in r.stdout
    assert (tmp_path / "d").is_dir()
