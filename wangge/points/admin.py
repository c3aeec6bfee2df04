"""The rule table and the reward catalogue in the Django admin, for the system administrator.

Saving goes through the services (validated the same way, audited); the pages /points/rules/
and /points/rewards/ offer the same edits.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from wangge.accounts.admin import PermissionAdminMixin
from wangge.accounts.enums import Perm
from wangge.core.errors import ApplicationError
from wangge.points import services
from wangge.points.models import Reward, Rule
from wangge.points.services.rewards import reward_values
from wangge.points.services.rules import rule_values

RULE_FIELDS = ("name", "name_en", "points", "daily_cap", "monthly_cap", "valid_months", "is_active")
REWARD_FIELDS = ("name", "name_en", "description", "cost", "stock", "is_active")


def _check(fn, data):
    try:
        fn(data)
    except ApplicationError as exc:
        raise forms.ValidationError(exc.message) from None


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ("action", *RULE_FIELDS)

    def clean(self):
        data = super().clean()
        _check(rule_values, {k: data.get(k) for k in RULE_FIELDS if k in data})
        return data


@admin.register(Rule)
class RuleAdmin(PermissionAdminMixin, admin.ModelAdmin):
    form = RuleForm
    perm = Perm.PLACES_IMPORT
    list_display = ("action", "name", "points", "daily_cap", "monthly_cap", "valid_months")
    list_filter = ("is_active",)
    search_fields = ("action", "name", "name_en")

    def get_readonly_fields(self, request, obj=None):
        return ("action",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data.get(k) for k in RULE_FIELDS}
        if change:
            services.rule_update(actor=request.post, rule=obj, **values)
        else:
            obj.pk = services.rule_create(actor=request.post, action=obj.action, **values).pk


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = REWARD_FIELDS

    def clean(self):
        data = super().clean()
        _check(reward_values, {k: data.get(k) for k in REWARD_FIELDS if k in data})
        return data


@admin.register(Reward)
class RewardAdmin(PermissionAdminMixin, admin.ModelAdmin):
    form = RewardForm
    perm = Perm.PLACES_IMPORT
    list_display = ("name", "cost", "stock", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "name_en")

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data.get(k) for k in REWARD_FIELDS}
        if change:
            services.reward_update(actor=request.post, reward=obj, **values)
        else:
            obj.pk = services.reward_create(actor=request.post, **values).pk
