"""Every value a stranger can put in a conversion postback or pixel (issue 14): a clear
refusal, nothing stored for it, and the good sale sent after it still recorded once."""

# ruff: noqa: F401, F811 (fixtures imported for pytest to find, and used as parameters)

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tracking.conftest import acme, case, marketer, secret, shop, signed, social_source
from tracking.models import Conversion
from tracking.services import (
    click_record,
    conversion_pixel_receive,
    conversion_postback_receive,
    link_create,
)

pytestmark = pytest.mark.django_db

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),  # lone surrogates, NUL and the rest of Unicode
    st.sampled_from(
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "1e309", "-1", "\x00", "NaN"]
    ),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(), inner)),
    max_leaves=10,
)


@pytest.fixture
def token(case, marketer):
    link = link_create(
        brand=case.brand,
        target_url="https://shop.acme.example/p",
        campaign="c",
        case=case,
        created_by=marketer,
    )
    url = click_record(code=link.code, ip="192.0.2.1", user_agent="Mozilla/5.0")
    return parse_qs(urlsplit(url).query)["earshot_click"][0]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order_id=hostile_values,
    amount=hostile_values,
    currency=hostile_values,
    at=hostile_values,
    depth=st.integers(0, 3000),
)
def test_hostile_postbacks_are_refused_clearly_and_the_good_sale_after_them_is_recorded_once(
    token, secret, order_id, amount, currency, at, depth
):
    Conversion.objects.all().delete()
    payload = {"click": token, "order_id": order_id, "amount": amount, "currency": currency}
    if at is not None:
        payload["at"] = at
    body = json.dumps(payload, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    if depth > 2000:  # deep JSON instead
        body = b'{"click": "' + token.encode() + b'", "x": ' + b"[" * depth + b"]" * depth + b"}"
    stamp = str(int(time.time()))
    _, headers = signed(secret, body, at=int(stamp))

    result = conversion_postback_receive(
        body=body, timestamp=stamp, signature=headers["X-Earshot-Signature"]
    )

    assert result.status in (200, 400), result.body
    if result.status == 400:
        assert result.body["error"]
    good = {"click": token, "order_id": "GOOD-1", "amount": "10.00", "currency": "EUR"}
    body, headers = signed(secret, good)
    for _ in range(2):
        ok = conversion_postback_receive(
            body=body,
            timestamp=headers["X-Earshot-Timestamp"],
            signature=headers["X-Earshot-Signature"],
        )
        assert ok.status == 200
    assert Conversion.objects.filter(order_id="GOOD-1").count() == 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order_id=st.text(max_size=300), amount=st.text(max_size=40), currency=st.text(max_size=8))
def test_hostile_pixel_values_are_refused_clearly_or_recorded_once(
    token, order_id, amount, currency
):
    first = conversion_pixel_receive(
        click_token=token, order_id=order_id, amount=amount, currency=currency
    )
    again = conversion_pixel_receive(
        click_token=token, order_id=order_id, amount=amount, currency=currency
    )

    assert first.status in (200, 400), first.body
    if first.status == 200:
        assert again.body["result"] == "duplicate"
    else:
        assert first.body["error"] and again.status == 400
