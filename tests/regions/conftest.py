import pytest


@pytest.fixture
def hole_in_the_grids(city):
    """A point of 都江堰市 (103.6, 30.9) in a district but in no grid: every district is covered
    by grids at district scale, so the grid there is taken away for the test (no service removes
    grids; the row goes with the test's transaction). Yields the point and the grid's code."""
    from wangge.regions import locator
    from wangge.regions.models import Grid

    point = (103.6, 30.9)
    hit = locator.get_locator().locate(*point)
    assert hit is not None and hit.code.startswith("510181")
    Grid.objects.filter(code=hit.code).delete()
    locator.reset()
    yield point, hit.code
    locator.reset()
