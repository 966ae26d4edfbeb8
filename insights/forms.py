from __future__ import annotations

from django import forms

from conversations.models import Queue
from insights.levels import RepresentativeThreshold, SupervisorThreshold
from insights.models import SentimentSettings
from insights.scoring import SUPPORTED_LANGUAGES

INHERIT = ""


class SentimentSettingsForm(forms.ModelForm):
    base_language = forms.ChoiceField(
        label="Base language",
        choices=sorted(SUPPORTED_LANGUAGES.items(), key=lambda item: item[1]),
    )

    class Meta:
        model = SentimentSettings
        fields = [
            "monitoring_enabled",
            "representative_threshold",
            "supervisor_threshold",
            "multilingual_enabled",
            "base_language",
            "sharp_drop_alerts",
        ]
        widgets = {
            "monitoring_enabled": forms.CheckboxInput(attrs={"role": "switch"}),
            "multilingual_enabled": forms.CheckboxInput(attrs={"role": "switch"}),
        }


class QueueOverrideForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=Queue.objects.all())
    representative_threshold = forms.TypedChoiceField(
        label="Representative alerts",
        choices=[(INHERIT, "Inherit organisation default"), *RepresentativeThreshold.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    supervisor_threshold = forms.TypedChoiceField(
        label="Supervisor notifications",
        choices=[(INHERIT, "Inherit organisation default"), *SupervisorThreshold.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
