"""Source admin: secret options never reach the browser and survive an unchanged save."""

from __future__ import annotations

import json

import pytest
from django.forms import MultiWidget
from django.urls import reverse

from listening.forms import SECRET_KEPT
from listening.models import Source
from listening.services import brand_create

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token-abc123"


@pytest.fixture
def source() -> Source:
    brand = brand_create(name="Acme", query="acme")
    return Source.objects.create(
        brand=brand,
        kind="mastodon",
        url="https://social.example",
        config={"hashtag": "acme", "access_token": TOKEN},
    )


def change_url(source: Source) -> str:
    return reverse("admin:listening_source_change", args=[source.pk])


def form_data(response, **config_changes) -> dict[str, str]:
    """What the browser would post back from the change page, with config options changed."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[form[name].html_name] = "on"
            continue
        widget = form.fields[name].widget
        if isinstance(widget, MultiWidget):  # a date and a time input, say
            for i, part in enumerate(widget.decompress(value)):
                data[f"{form[name].html_name}_{i}"] = "" if part is None else str(part)
            continue
        data[form[name].html_name] = "" if value is None else str(value)
    config = json.loads(data["config"])
    config.update(config_changes)
    data["config"] = json.dumps(config)
    for inline in response.context["inline_admin_formsets"]:
        for field in inline.formset.management_form:
            data[field.html_name] = str(field.value())
        for inline_form in inline.formset.forms:
            for field in inline_form:
                value = field.value()
                data[field.html_name] = "" if value is None else str(value)
    return data


def test_the_change_page_never_shows_a_stored_secret(admin_client, source):
    response = admin_client.get(change_url(source))

    page = response.content.decode()
    assert TOKEN not in page
    assert SECRET_KEPT in page
    assert "acme" in page  # options that are not secret are shown as they are


def test_saving_without_touching_the_secret_keeps_it(admin_client, source):
    data = form_data(admin_client.get(change_url(source)), hashtag="acmemobile")

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    source.refresh_from_db()
    assert source.config == {"hashtag": "acmemobile", "access_token": TOKEN}


def test_typing_a_new_secret_replaces_it(admin_client, source):
    data = form_data(admin_client.get(change_url(source)), access_token="new-token-456")

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.config["access_token"] == "new-token-456"


def test_the_placeholder_for_a_secret_never_stored_is_refused(admin_client, source):
    source.config = {"hashtag": "acme"}
    source.save()
    data = form_data(admin_client.get(change_url(source)), access_token=SECRET_KEPT)

    response = admin_client.post(change_url(source), data)

    assert response.status_code == 200
    assert "nothing is stored for it yet" in response.content.decode()
    source.refresh_from_db()
    assert "access_token" not in source.config
