import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wangge.demo.registry import DemoContext
from wangge.regions import synth


def _street(code="510104017"):
    street = next(s for s in synth.streets() if s.code == code)
    comms = [c for c in synth.communities() if c.parent_code == code][:3]
    return street, shapely.box(104.06, 30.62, 104.08, 30.64), comms


def _specs(seed):
    street, geom, comms = _street()
    ctx = DemoContext(seed=seed, verbose=False)
    return list(synth._street_tree(street, geom, 30_000.0, comms, ctx.rng))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_generator_is_deterministic_for_a_seed(seed):
    a, b = _specs(seed), _specs(seed)
    assert [(s.code, s.name, s.kind) for s in a] == [(s.code, s.name, s.kind) for s in b]
    assert all(x.geom.equals_exact(y.geom, 0) for x, y in zip(a, b, strict=True))


def test_different_seeds_give_different_cities():
    a, b = _specs(1), _specs(2)
    assert any(not x.geom.equals_exact(y.geom, 1e-9) for x, y in zip(a, b, strict=False))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    weights=st.lists(st.floats(min_value=0.2, max_value=5), min_size=1, max_size=12),
)
def test_partition_covers_parent_without_overlap(seed, weights):
    parent = shapely.Polygon(
        [(104.0, 30.6), (104.1, 30.6), (104.12, 30.7), (104.03, 30.68), (104.05, 30.65)]
    )
    pieces = synth.partition(parent, np.array(weights), np.random.default_rng(seed))
    assert len(pieces) == len(weights)
    assert all(not p.is_empty and p.is_valid for p in pieces)
    total = sum(p.area for p in pieces)
    assert abs(total - parent.area) < 1e-9 * 1e4
    assert shapely.union_all(pieces).symmetric_difference(parent).area < 1e-9
    for i in range(len(pieces)):
        for j in range(i + 1, len(pieces)):
            assert pieces[i].intersection(pieces[j]).area < 1e-12


def test_partition_areas_follow_weights():
    parent = shapely.box(104.0, 30.6, 104.1, 30.7)
    weights = np.array([1, 2, 4, 1, 2, 4, 1, 2])
    pieces = synth.partition(parent, weights, np.random.default_rng(7))
    shares = np.array([p.area for p in pieces]) / parent.area
    expected = weights / weights.sum()
    # Voronoi cells around k-d seeds: close to, not exactly, the weights
    assert np.corrcoef(shares, expected)[0, 1] > 0.8


def test_real_reference_data():
    assert len(synth.districts()) == 20
    assert len(synth.streets()) == 261
    assert len(synth.communities()) == 3047
    assert {z[1] for z in synth.zones()} == {"四川天府新区成都直管区", "成都东部新区", "成都高新区"}
    assert synth.short_community_name("八宝街社区居民委员会") == "八宝街社区"
    assert synth.short_community_name("石桥村民委员会") == "石桥村"
    assert synth.short_community_name("石桥村委会") == "石桥村"


def _district(code):
    return next(d for d in synth.districts() if d.code == code)


def test_a_skeleton_district_has_one_grid_a_community():
    rng = DemoContext(seed=3, verbose=False).rng
    specs = list(synth.district_tree(_district("510113"), rng, detail=False))  # 青白江区
    by_level = {}
    for s in specs:
        by_level.setdefault(s.level, []).append(s)
    assert set(by_level) == {"street", "community", "grid"}
    assert [s.code for s in by_level["street"]] == [
        s.code for s in synth.streets() if s.parent_code == "510113"
    ]
    communities = {s.code: s for s in by_level["community"]}
    assert sorted(communities) == sorted(
        c.code for c in synth.communities() if c.parent_code[:6] == "510113"
    )
    assert len(by_level["grid"]) == len(communities)
    for grid in by_level["grid"]:
        community = communities[grid.parent_code]
        assert grid.code == f"{community.code}001" and grid.kind == "general"
        assert grid.name == f"{community.name}第1网格"
        assert grid.geom.equals_exact(community.geom, 0)


def test_skeleton_and_detail_share_their_streets_and_communities():
    """The same random streams: a district's streets and communities do not depend on the
    detail it is built with (so the demo district is the same as when it was alone)."""
    rng = DemoContext(seed=5, verbose=False).rng
    district = _district("510113")

    def places(detail):
        return [
            s
            for s in synth.district_tree(district, rng, detail=detail)
            if s.level in ("street", "community")
        ]

    a, b = places(True), places(False)
    assert [(s.code, s.name, s.parent_code) for s in a] == [
        (s.code, s.name, s.parent_code) for s in b
    ]
    assert all(x.geom.equals_exact(y.geom, 0) for x, y in zip(a, b, strict=True))


def test_which_districts_are_detailed_at_each_scale():
    assert [d.code for d in synth.detailed_districts("district")] == [synth.DEMO_DISTRICT]
    assert len(synth.detailed_districts("city")) == 20
