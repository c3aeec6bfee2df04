import pytest

from wangge.accounts.enums import ADMIN_ROLES, Perm, Role
from wangge.accounts.rules import ROLE_RULES, has_perm, require
from wangge.accounts.scope import SYSTEM, scope_for
from wangge.core.errors import PermissionDenied


def test_every_role_has_a_rule():
    assert set(ROLE_RULES) == set(Role)


def test_administrators_need_two_factors_and_others_do_not():
    for role, r in ROLE_RULES.items():
        assert r.two_factor == (role in ADMIN_ROLES)


def test_the_three_administrators_cannot_do_each_others_work():
    duties = {
        Role.SYSTEM_ADMIN: {Perm.USERS_MANAGE, Perm.PLACES_IMPORT},
        Role.SECURITY_ADMIN: {Perm.POSTS_MANAGE, Perm.ACCOUNTS_UNLOCK},
        Role.AUDIT_ADMIN: {Perm.AUDIT_VIEW, Perm.AUDIT_EXPORT},
    }
    for role, own in duties.items():
        perms = ROLE_RULES[role].perms
        assert own <= perms
        for other, theirs in duties.items():
            if other != role:
                assert not (theirs & perms), (role, other)
    # nobody but the audit administrator reads the audit trail
    assert [r for r, rr in ROLE_RULES.items() if Perm.AUDIT_VIEW in rr.perms] == [Role.AUDIT_ADMIN]


def test_no_administrator_sees_personal_data():
    for role in ADMIN_ROLES:
        assert not {Perm.PEOPLE_VIEW, Perm.PEOPLE_UNMASK} & ROLE_RULES[role].perms


@pytest.mark.django_db
def test_system_administrator_scope_unmasks_nothing(post_of):
    s = scope_for(post_of("sysadmin"))
    assert s.prefixes == ("5101",) and not s.unmask
    assert scope_for(post_of("auditadmin")).prefixes == ()
    assert scope_for(post_of("grid")).unmask


def test_require_and_system():
    assert has_perm(SYSTEM, Perm.POSTS_MANAGE)
    assert not has_perm(None, Perm.PLACES_VIEW)
    with pytest.raises(PermissionDenied):
        require(None, Perm.PLACES_VIEW)
