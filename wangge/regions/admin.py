from django.contrib import admin

from wangge.accounts.admin import PermissionAdminMixin
from wangge.accounts.enums import Perm
from wangge.regions.models import Grid, Region, Zone


@admin.register(Region)
class RegionAdmin(PermissionAdminMixin, admin.ModelAdmin):
    """Names and counts; polygons and new places come only through the validated import."""

    perm = Perm.PLACES_IMPORT

    def has_add_permission(self, request):
        return False

    list_display = ("code", "name", "level", "area_km2", "households", "residents")
    list_filter = ("level",)
    search_fields = ("code", "name")
    readonly_fields = (
        "geometry",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
        "centroid_lon",
        "centroid_lat",
        "area_km2",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("parent",)
    show_full_result_count = False


@admin.register(Grid)
class GridAdmin(PermissionAdminMixin, admin.ModelAdmin):
    perm = Perm.PLACES_IMPORT

    def has_add_permission(self, request):
        return False

    list_display = ("code", "name", "kind", "subtype", "area_km2", "households")
    list_filter = ("kind", "subtype")
    search_fields = ("code", "name")
    readonly_fields = RegionAdmin.readonly_fields
    raw_id_fields = ("community", "parent")
    show_full_result_count = False


@admin.register(Zone)
class ZoneAdmin(PermissionAdminMixin, admin.ModelAdmin):
    perm = Perm.PLACES_IMPORT
    list_display = ("code", "name")
    filter_horizontal = ("streets",)
