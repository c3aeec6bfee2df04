import pytest

from wangge.accounts.models import Post
from wangge.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_security_administrator_grants_posts_in_the_admin(client_as, post_of):
    c = client_as("secadmin")
    user = post_of("resident").user
    # a grid worker on a community is refused with the reason, nothing saved
    r = c.post(
        "/admin/accounts/post/add/",
        {"user": user.id, "role": "grid_worker", "place_code": "510104017001", "is_active": "on"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r.status_code == 200 and "is not one" in r.content.decode()
    assert not Post.objects.filter(user=user, role="grid_worker").exists()
    r = c.post(
        "/admin/accounts/post/add/",
        {
            "user": user.id,
            "role": "grid_worker",
            "place_code": "510104017001001",
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    post = Post.objects.get(user=user, role="grid_worker")
    assert AuditEntry.objects.filter(action="post.grant", object_id=str(post.id)).exists()


@pytest.mark.parametrize(
    "who,path,ok",
    [
        ("secadmin", "/admin/accounts/post/", True),
        ("sysadmin", "/admin/accounts/post/", False),
        ("sysadmin", "/admin/regions/grid/", True),
        ("sysadmin", "/admin/auth/user/", True),
        ("secadmin", "/admin/auth/user/", False),
        ("auditadmin", "/admin/", False),
        ("commander", "/admin/", False),
    ],
)
def test_admin_pages_follow_the_rules_table(client_as, who, path, ok):
    r = client_as(who).get(path)
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code in (302, 403, 404)
        assert r.status_code != 200
