"""The working calendar's administrator entries, for the system administrator.

The page opens to posts whose role grants ``Perm.PLACES_IMPORT`` (the system administrator, as
for other master data); every change goes through ``workcal.calendar_day_set``/``_unset``, which
audit it and tell every process to reload the calendar.
"""

from __future__ import annotations

from django.contrib import admin

from wangge.accounts.admin import PermissionAdminMixin
from wangge.accounts.enums import Perm
from wangge.core import workcal
from wangge.core.models import CalendarDay


@admin.register(CalendarDay)
class CalendarDayAdmin(PermissionAdminMixin, admin.ModelAdmin):
    perm = Perm.PLACES_IMPORT
    can_delete = True
    fields = ("date", "is_workday", "name")
    list_display = ("date", "is_workday", "name", "created_by", "created_at", "updated_at")
    list_filter = ("is_workday",)
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("-date",)

    def get_readonly_fields(self, request, obj=None):
        # A different date is a different entry: remove this one and add that one.
        return ("date",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        row = workcal.calendar_day_set(
            actor=request.post,
            day=obj.date,
            is_workday=obj.is_workday,
            name=obj.name,
            request=request,
        )
        obj.pk = row.pk

    def delete_model(self, request, obj):
        workcal.calendar_day_unset(actor=request.post, day=obj.date, request=request)

    def delete_queryset(self, request, queryset):
        for day in queryset.values_list("date", flat=True):
            workcal.calendar_day_unset(actor=request.post, day=day, request=request)
