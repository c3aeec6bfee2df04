"""The Django admin, for master data, restricted by the active post's permissions.

Sign-in goes through the platform's own login (lockout, two factors); each model page opens only
to the post whose role grants its permission (``PermissionAdminMixin``). Posts are granted and
ended through the services, so every change is audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.shortcuts import redirect
from django.urls import reverse

from wangge.accounts import services
from wangge.accounts.enums import Perm
from wangge.accounts.models import Post, Unit
from wangge.accounts.rules import has_perm
from wangge.core import audit
from wangge.core.errors import ApplicationError

ADMIN_PERMS = (Perm.PLACES_IMPORT, Perm.USERS_MANAGE, Perm.POSTS_MANAGE)


def _admin_login(request, extra_context=None):
    return redirect(f"{reverse('accounts:login')}?next={request.get_full_path()}")


def _has_permission(request) -> bool:
    post = getattr(request, "post", None)
    return request.user.is_active and any(has_perm(post, p) for p in ADMIN_PERMS)


def secure_admin_site() -> None:
    admin.site.login = _admin_login
    admin.site.has_permission = _has_permission
    admin.site.site_header = admin.site.site_title = "网格 wangge"


class PermissionAdminMixin:
    """A model page for the posts whose role grants ``perm`` (view and change alike)."""

    perm: Perm
    can_delete = False

    def _ok(self, request) -> bool:
        return has_perm(getattr(request, "post", None), self.perm)

    def has_module_permission(self, request):
        return self._ok(request)

    def has_view_permission(self, request, obj=None):
        return self._ok(request)

    def has_add_permission(self, request):
        return self._ok(request)

    def has_change_permission(self, request, obj=None):
        return self._ok(request)

    def has_delete_permission(self, request, obj=None):
        return self.can_delete and self._ok(request)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(
            actor=request.post,
            action=f"{obj._meta.model_name}.{'change' if change else 'create'}",
            obj=obj,
            details={"fields": list(form.changed_data)},
            request=request,
        )


@admin.register(Unit)
class UnitAdmin(PermissionAdminMixin, admin.ModelAdmin):
    perm = Perm.PLACES_IMPORT
    list_display = ("code", "name", "kind", "region_code", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")


class PostForm(forms.ModelForm):
    class Meta:
        model = Post
        fields = ("user", "role", "place_code", "unit", "is_active")

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("user") and data.get("role"):
            try:
                services.post_check(
                    user=data["user"],
                    role=data["role"],
                    place_code=data.get("place_code") or "",
                    unit=data.get("unit"),
                )
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


@admin.register(Post)
class PostAdmin(PermissionAdminMixin, admin.ModelAdmin):
    form = PostForm
    perm = Perm.POSTS_MANAGE
    list_display = ("user", "role", "place_code", "unit", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__username", "place_code")
    raw_id_fields = ("user",)

    def get_fields(self, request, obj=None):
        return ("user", "role", "place_code", "unit") if obj is None else ("is_active",)

    def get_readonly_fields(self, request, obj=None):
        return ()

    def save_model(self, request, obj, form, change):
        if not change:
            post = services.post_grant(
                actor=request.post,
                user=obj.user,
                role=obj.role,
                place_code=obj.place_code,
                unit=obj.unit,
            )
            obj.pk = post.pk
        elif not obj.is_active:
            services.post_end(actor=request.post, post=Post.objects.get(pk=obj.pk))


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(PermissionAdminMixin, DjangoUserAdmin):
    """Accounts only: the system administrator sets names, passwords (through the password
    policy) and whether an account is active; it sees no personal data and grants no posts."""

    perm = Perm.USERS_MANAGE
    list_display = ("username", "first_name", "is_active", "last_login")
    list_filter = ("is_active",)
    search_fields = ("username",)
    filter_horizontal = ()
    fieldsets = ((None, {"fields": ("username", "first_name", "is_active")}),)
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
    )


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
