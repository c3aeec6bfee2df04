import pytest

from wangge.accounts.models import Unit
from wangge.accounts.scope import EVERYTHING, NOTHING, SYSTEM, Scope, scope_for
from wangge.accounts.services import post_end, post_grant
from wangge.core.errors import NotFound, ValidationError
from wangge.regions.models import Grid, Region

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "username,prefix",
    [
        ("commander", "5101"),
        ("district", "510104"),
        ("street", "510104017"),
        ("community", "510104017001"),
        ("grid", "510104017001001"),
        ("micro", "510104017001001001"),
        ("cadre", "510104017001002"),
        ("handler", "510104"),
        ("sysadmin", "5101"),
        ("secadmin", "5101"),
    ],
)
def test_demo_posts_see_their_subtree(post_of, username, prefix):
    assert scope_for(post_of(username)).prefixes == (prefix,)


@pytest.mark.parametrize("username", ["auditadmin", "resident"])
def test_some_posts_see_no_places(post_of, username):
    assert (
        scope_for(post_of(username)) == Scope((), None, False)
        or not scope_for(post_of(username)).prefixes
    )


def test_scope_filter_matches_covers(post_of):
    s = scope_for(post_of("community"))
    codes = set(s.filter(Grid.objects.all()).values_list("code", flat=True))
    assert codes == {c for c in Grid.objects.values_list("code", flat=True) if s.covers(c)}
    assert codes and all(c.startswith("510104017001") for c in codes)
    assert not NOTHING.filter(Region.objects.all()).exists()
    assert EVERYTHING.filter(Region.objects.all()).count() == Region.objects.count()
    with pytest.raises(NotFound):
        s.check("510104017002")


def test_unit_handler_is_narrowed_by_its_post(post_of):
    handler = post_of("handler")
    narrowed = post_grant(
        actor=SYSTEM,
        user=handler.user,
        role="unit_handler",
        place_code="510104017",
        unit=handler.unit,
    )
    assert scope_for(narrowed).prefixes == ("510104017",)
    outside = Unit.objects.create(code="X", name="x", kind="other", region_code="510105")
    disjoint = post_grant(
        actor=SYSTEM, user=handler.user, role="unit_handler", place_code="510104017", unit=outside
    )
    assert scope_for(disjoint).prefixes == ()


def test_an_ended_post_sees_nothing(post_of):
    post = post_of("grid")
    post_end(actor=SYSTEM, post=post)
    post.refresh_from_db()
    assert scope_for(post).prefixes == ()


@pytest.mark.parametrize(
    "role,place,ok",
    [
        ("grid_worker", "510104017001001", True),
        ("grid_worker", "510104017001", False),  # a community is not a grid
        ("micro_grid_worker", "510104017001001", False),
        ("district_dispatcher", "510104", True),
        ("district_dispatcher", "510199", False),  # no such place
        ("system_admin", "510104", False),  # administrators sit on no place
        ("unit_handler", "510104", False),  # needs a unit
    ],
)
def test_posts_sit_where_their_role_says(post_of, role, place, ok):
    user = post_of("resident").user
    if ok:
        assert post_grant(actor=SYSTEM, user=user, role=role, place_code=place).place_code == place
    else:
        with pytest.raises(ValidationError):
            post_grant(actor=SYSTEM, user=user, role=role, place_code=place)


def test_no_user_holds_two_administrator_roles(post_of):
    user = post_of("sysadmin").user
    with pytest.raises(ValidationError, match="two administrator roles"):
        post_grant(actor=SYSTEM, user=user, role="audit_admin")


def test_the_database_refuses_two_administrator_roles_too(post_of):
    from django.db import IntegrityError, transaction

    from wangge.accounts.models import Post

    user = post_of("sysadmin").user
    with pytest.raises(IntegrityError), transaction.atomic():
        Post.objects.create(user=user, role="security_admin")


def test_only_the_security_administrator_grants_posts(post_of):
    from wangge.core.errors import PermissionDenied

    user = post_of("resident").user
    for who in ("sysadmin", "auditadmin", "commander"):
        with pytest.raises(PermissionDenied):
            post_grant(
                actor=post_of(who), user=user, role="volunteer", place_code="510104017001001"
            )
    post = post_grant(
        actor=post_of("secadmin"), user=user, role="volunteer", place_code="510104017001001"
    )
    assert post.is_active
