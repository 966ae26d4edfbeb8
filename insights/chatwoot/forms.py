"""The Chatwoot connection form of the setup page, with its inbox → queue and team → queue
rows. Plain forms (not a ModelForm): the service compares the stored values with the new
ones to audit them, so the form must not write into the connection."""

from __future__ import annotations

from django import forms

from conversations.models import Queue
from insights.chatwoot.models import ChatwootConnection

EXTRA_MAP_ROWS = 2


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Chatwoot")
    base_url = forms.URLField(
        label="Chatwoot base URL", assume_scheme="https", help_text="e.g. https://app.chatwoot.com"
    )
    account_id = forms.IntegerField(
        label="Account id", min_value=1, help_text="The number in /app/accounts/<id>/ of Chatwoot's address"
    )
    api_access_token = forms.CharField(
        label="API access token",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Chatwoot → Profile settings → Access token. Never shown again; leave blank to keep the current one.",
    )
    default_queue = forms.ModelChoiceField(
        queryset=Queue.objects.all(), label="Default queue", empty_label=None
    )
    private_notes = forms.BooleanField(
        label="Also post a private note naming the messages that drove an alert",
        required=False,
        widget=forms.CheckboxInput(attrs={"role": "switch"}),
    )
    active = forms.BooleanField(
        label="Active", required=False, initial=True, widget=forms.CheckboxInput(attrs={"role": "switch"})
    )

    def __init__(self, *args, connection: ChatwootConnection | None = None, **kwargs) -> None:
        if connection is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": connection.name,
                    "base_url": connection.base_url,
                    "account_id": connection.account_id,
                    "default_queue": connection.default_queue_id,
                    "private_notes": connection.private_notes,
                    "active": connection.active,
                },
            )
        super().__init__(*args, **kwargs)
        self.connection = connection

    def clean_api_access_token(self) -> str:
        token = self.cleaned_data["api_access_token"]
        if not token and self.connection is None:
            raise forms.ValidationError("A new connection needs Chatwoot's access token.")
        return token


class MapRowForm(forms.Form):
    chatwoot_id = forms.IntegerField(label="Chatwoot id", min_value=1, required=False)
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.all(), required=False, empty_label="(choose a queue)"
    )

    def clean(self):
        data = super().clean()
        has_id, has_queue = data.get("chatwoot_id") is not None, data.get("queue") is not None
        if has_id != has_queue and not self.cleaned_data.get("DELETE"):
            raise forms.ValidationError("Give both the Chatwoot id and the queue, or neither.")
        return data


class BaseMapFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: set[int] = set()
        for form in self.forms:
            chatwoot_id = form.cleaned_data.get("chatwoot_id")
            if chatwoot_id is None or form.cleaned_data.get("DELETE"):
                continue
            if chatwoot_id in seen:
                raise forms.ValidationError(f"Chatwoot id {chatwoot_id} is mapped twice.")
            seen.add(chatwoot_id)

    def mapping(self) -> dict[str, int]:
        return {
            str(form.cleaned_data["chatwoot_id"]): form.cleaned_data["queue"].pk
            for form in self.forms
            if form.cleaned_data.get("chatwoot_id") is not None and not form.cleaned_data.get("DELETE")
        }


MapFormSet = forms.formset_factory(MapRowForm, formset=BaseMapFormSet, extra=EXTRA_MAP_ROWS, can_delete=True)


def map_formset(data, *, prefix: str, mapping: dict | None) -> BaseMapFormSet:
    """The rows of ``mapping`` to show, or the posted rows. A posted formset gets no initial
    rows: Django would skip a row equal to its initial one, and the map is what is posted."""
    if data is not None:
        return MapFormSet(data, prefix=prefix)
    initial = [
        {"chatwoot_id": int(key), "queue": value}
        for key, value in sorted((mapping or {}).items(), key=lambda kv: int(kv[0]))
    ]
    return MapFormSet(prefix=prefix, initial=initial)
