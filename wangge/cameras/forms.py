"""The forms of the camera pages: they parse and keep what the user typed; the services check."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from wangge.cameras.enums import ZoneKind
from wangge.events.enums import Urgency


class CameraForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=100)
    grid_code = forms.CharField(
        label=_("Grid code (empty: located from the position)"), max_length=18, required=False
    )
    lon = forms.FloatField(label=_("Longitude"), required=False)
    lat = forms.FloatField(label=_("Latitude"), required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    stream_url = forms.CharField(label=_("Stream URL (RTSP/HTTP)"), max_length=500, required=False)
    snapshot_url = forms.CharField(label=_("Snapshot URL"), max_length=500, required=False)
    vendor = forms.CharField(label=_("Vendor"), max_length=60, required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, editing: bool = False, **kw):
        super().__init__(*args, **kw)
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].required = False


class ZoneForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    kind = forms.ChoiceField(label=_("Rule"), choices=ZoneKind.choices)
    polygon = forms.CharField(
        label=_("Outline: points x,y between 0 and 1, separated by ';'"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    classes = forms.CharField(
        label=_("Object classes (empty: the rule's own)"), max_length=300, required=False
    )
    min_confidence = forms.FloatField(
        label=_("Minimum confidence"), required=False, min_value=0, max_value=1
    )
    min_count = forms.IntegerField(label=_("Objects needed"), required=False, min_value=1)
    dwell_minutes = forms.FloatField(label=_("Dwell (minutes)"), required=False, min_value=0)
    clear_minutes = forms.FloatField(
        label=_("Clear for (minutes) before closing"), required=False, min_value=0
    )
    category_code = forms.CharField(
        label=_("Event category (small category code)"), max_length=20, required=False
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=[("", "—"), *Urgency.choices], required=False
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class SnapshotForm(forms.Form):
    image = forms.FileField(label=_("A picture of the camera's view (JPEG, PNG or WebP)"))
