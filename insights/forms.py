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

    def __init__(self, *args, **kwargs) -> None:
        # Shown on the page of the organisation form, whose fields have the same names: ids of
        # their own (id_queue_…), so every select keeps its one label.
        kwargs.setdefault("auto_id", "id_queue_%s")
        super().__init__(*args, **kwargs)

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


class WebhookSettingsForm(forms.ModelForm):
    """The webhook on the Insights page. The secret is write-only: blank keeps the current one."""

    webhook_url = forms.URLField(label="Webhook URL", required=False, assume_scheme="https")

    new_secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=128,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the current secret. Receivers use its UTF-8 bytes as the HMAC-SHA256 key.",
    )
    clear_secret = forms.BooleanField(
        label="Remove the secret (with the URL cleared: a webhook needs one)", required=False
    )

    class Meta:
        model = SentimentSettings
        fields = ["webhook_url", "webhook_scored_messages"]
        widgets = {"webhook_scored_messages": forms.CheckboxInput(attrs={"role": "switch"})}

    def changes(self) -> dict:
        """The settings to pass to ``sentiment_settings_update``."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        if self.cleaned_data["clear_secret"]:
            data["webhook_secret"] = ""
        elif self.cleaned_data["new_secret"]:
            data["webhook_secret"] = self.cleaned_data["new_secret"]
        return data
