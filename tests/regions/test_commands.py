import json

import pytest
from django.core.management import CommandError, call_command

from wangge.regions.models import Grid

pytestmark = pytest.mark.django_db


def test_locate_prints_the_chain(city, capsys):
    g = Grid.objects.filter(kind="micro").first()
    call_command("locate", str(g.centroid_lon), str(g.centroid_lat))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].split("\t")[0] == "5101"
    assert lines[0].split("\t")[0].startswith(g.code[:12])
    assert len(lines) in (5, 6)  # exclusive grid chain is one shorter than a micro-grid's


def test_locate_falls_back_to_the_deepest_region(hole_in_the_grids, capsys):
    (lon, lat), grid = hole_in_the_grids
    call_command("locate", str(lon), str(lat))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [grid[:12], grid[:9], "510181", "5101"]


@pytest.mark.parametrize(
    "lon,lat,word",
    [
        ("102.9", "30.2", "nearest district"),
        ("nan", "30", "not a number"),
        ("120", "30", "outside the city"),
    ],
)
def test_locate_fails_with_the_reason(city, lon, lat, word):
    with pytest.raises(CommandError, match=word):
        call_command("locate", lon, lat)


def test_export_then_import_round_trip(city, tmp_path, capsys):
    street = Grid.objects.filter(kind="general").first().code[:9]
    call_command("export_grids", street)
    out = capsys.readouterr().out
    fc = json.loads(out)
    assert fc["features"] and all(
        f["properties"]["code"].startswith(street) for f in fc["features"]
    )
    path = tmp_path / "grids.geojson"
    path.write_text(out, encoding="utf-8")
    call_command("import_grids", str(path))
    assert f"unchanged {len(fc['features'])}" in capsys.readouterr().out


def test_import_reports_each_bad_feature(city, tmp_path, capsys):
    path = tmp_path / "bad.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {"code": "12"}, "geometry": None}],
            }
        )
    )
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_grids", str(path))
    assert "feature 0 (12)" in capsys.readouterr().err
    path.write_text("{not json")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("import_grids", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_grids", str(tmp_path / "missing.geojson"))


def test_export_unknown_code(city):
    with pytest.raises(CommandError):
        call_command("export_grids", "510199")
