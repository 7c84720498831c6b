"""The customer pages: brand admins only; the upload runs the real import in the request;
matches are decided from the page; the loyalty panel and its CSV; hostile text escaped."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from customers.models import AuthorMatch, Customer, CustomerImport
from tests.customers.conftest import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    run_import,
    store_mention,
)

pytestmark = pytest.mark.django_db

PAGES = [
    ("customers:index", "get"),
    ("customers:import", "get"),
    ("customers:import", "post"),
    ("customers:matches", "get"),
    ("customers:match-decide", "post"),
    ("customers:loyalty", "get"),
    ("customers:loyalty-export", "get"),
    ("customers:before-after", "get"),
]
HOSTILE = '<script>alert("x")</script>'


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def suggestion(acme, social_source):
    store_mention(social_source, "acme rocks", author_handle="kim_lee@social.example",
                  author_name="Kim Lee")  # fmt: skip
    run_import(acme, csv_bytes(CUSTOMER_HEADER, [["c1", "Kim Lee", "", "", "", ""]]))
    return AuthorMatch.objects.get()


@pytest.mark.parametrize(("name", "method"), PAGES)
@pytest.mark.parametrize("role", ["marketer", "agent"])
def test_marketers_and_agents_get_403_on_every_customer_page(
    request, acme, suggestion, name, method, role
):
    user = request.getfixturevalue(role)
    client = client_for(user)
    form = {"match": suggestion.pk, "decision": "confirm"}
    for query in ({"brand": acme.pk}, {}):
        if method == "get":
            response = client.get(reverse(name), {**query, **form})
        else:
            response = client.post(f"{reverse(name)}?{urlencode(query)}", form)
        assert response.status_code == 403, (query, method)
        assert "Kim Lee" not in response.content.decode()
    suggestion.refresh_from_db()
    assert suggestion.status == "suggested"


@pytest.mark.parametrize(("name", "method"), PAGES)
def test_another_brands_admin_gets_404_and_anonymous_goes_to_sign_in(
    acme, other_brand, suggestion, name, method
):
    from tests.brands.conftest import make_user

    stranger = client_for(make_user("ivan", other_brand, "admin"))
    url = f"{reverse(name)}?brand={acme.pk}"
    data = {"match": suggestion.pk, "decision": "reject"}
    if method == "get":
        data = {**data, "brand": acme.pk}
    assert getattr(stranger, method)(url, data).status_code == 404
    # Their own brand in the query, Acme's match in the form: not found either.
    if name == "customers:match-decide":
        own = f"{reverse(name)}?brand={other_brand.pk}"
        assert stranger.post(own, data).status_code == 404
    anonymous = getattr(Client(), method)(url, data)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    suggestion.refresh_from_db()
    assert suggestion.status == "suggested"


def test_an_admin_uploads_files_and_sees_the_result(acme, admin_user, social_source):
    store_mention(social_source, "acme!", author_handle="Lu@social.example", author_name="Lu")
    customers = csv_bytes(CUSTOMER_HEADER, [
        ["c1", HOSTILE, "lu@example.com", "mastodon:@lu@social.example", "Oslo", "NO"],
        ["c2", "Bad", "nope", "", "", ""],
    ])  # fmt: skip
    orders = csv_bytes(ORDER_HEADER, [["o1", "c1", "2025-01-01", "9.99", "NOK"]])
    client = client_for(admin_user)

    response = client.post(
        f"{reverse('customers:import')}?brand={acme.pk}",
        {
            "customers": SimpleUploadedFile("shop.csv", customers, "text/csv"),
            "orders": SimpleUploadedFile("orders.csv", orders, "text/csv"),
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "Imported shop.csv and orders.csv" in body
    assert "Customers: 1 stored of 2 lines" in body
    assert "Orders: 1 stored of 1 line" in body
    assert "New exact matches: 1" in body
    assert "customers line 3: bad email &#x27;nope&#x27;" in body
    record = CustomerImport.objects.get()
    assert (record.user, record.via, record.status) == (admin_user, "upload", "done")
    # The customer list escapes what the file said.
    listing = client.get(reverse("customers:index"), {"brand": acme.pk}).content.decode()
    assert HOSTILE not in listing
    assert "&lt;script&gt;" in listing
    assert "1 social loyalist" in listing


def test_a_file_without_a_header_is_reported_on_the_page(acme, admin_user):
    response = client_for(admin_user).post(
        f"{reverse('customers:import')}?brand={acme.pk}",
        {"customers": SimpleUploadedFile("x.csv", b"id,name\n1,a\n", "text/csv")},
    )
    assert response.status_code == 200
    assert "Import failed: line 1: the header lacks column(s) customer_id" in (
        response.content.decode()
    )
    assert CustomerImport.objects.get().status == "failed"


def test_too_big_an_upload_is_refused_with_the_limit(acme, admin_user, settings):
    settings.EARSHOT_CUSTOMERS_UPLOAD_MAX_BYTES = 10
    response = client_for(admin_user).post(
        f"{reverse('customers:import')}?brand={acme.pk}",
        {"customers": SimpleUploadedFile("x.csv", b"customer_id\nc1\nc2\n", "text/csv")},
    )
    assert "manage.py import_customers" in response.content.decode()
    assert not CustomerImport.objects.exists()


def test_an_admin_confirms_and_rejects_from_the_matches_page(acme, admin_user, suggestion):
    client = client_for(admin_user)
    page = client.get(reverse("customers:matches"), {"brand": acme.pk}).content.decode()
    assert "Kim Lee" in page and "display_name" in page

    url = f"{reverse('customers:match-decide')}?brand={acme.pk}"
    response = client.post(url, {"match": suggestion.pk, "decision": "confirm"})
    assert response.status_code == 302
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by) == ("confirmed", admin_user)

    client.post(url, {"match": suggestion.pk, "decision": "reject"})
    suggestion.refresh_from_db()
    assert suggestion.status == "rejected"
    rejected = client.get(reverse("customers:matches"), {"brand": acme.pk, "status": "rejected"})
    assert "Kim Lee" in rejected.content.decode()
    assert client.post(url, {"match": "x"}).status_code == 400


def test_the_loyalty_page_and_its_csv(acme, admin_user, suggestion):
    client = client_for(admin_user)
    page = client.get(reverse("customers:loyalty"), {"brand": acme.pk}).content.decode()
    assert "Too few to compare" in page
    assert "Orders per customer" in page

    response = client.get(reverse("customers:loyalty-export"), {"brand": acme.pk})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["figure"] for r in rows] == ["Orders per customer", "Repeat share (2+ orders)"]
    assert rows[0]["loyalists_customers"] == "0" and rows[0]["rest_customers"] == "1"
    assert rows[0]["too_few_to_compare"] == "yes"


def test_a_page_without_a_brand_shows_the_admins_first_brand(acme, admin_user):
    Customer.objects.create(brand=acme, customer_id="zz-visible")
    body = client_for(admin_user).get(reverse("customers:index")).content.decode()
    assert "zz-visible" in body


def test_a_file_of_a_few_megabytes_is_imported_in_the_request(acme, admin_user, settings):
    """Over Django's in-memory limit (2.5 MB) the upload is a temporary file on disk."""
    settings.EARSHOT_CUSTOMERS_INLINE_BYTES = 4 * 1024 * 1024
    filler = "x" * 250
    rows = [[f"c{i}", f"Name {filler}", "", "", "", ""] for i in range(11_000)]
    data = csv_bytes(CUSTOMER_HEADER, rows)
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE

    response = client_for(admin_user).post(
        f"{reverse('customers:import')}?brand={acme.pk}",
        {"customers": SimpleUploadedFile("big.csv", data, "text/csv")},
    )

    assert "Customers: 11000 stored of 11000 lines" in response.content.decode()
    assert Customer.objects.filter(brand=acme).count() == 11_000


def test_another_brands_admin_sees_only_their_own_customers(acme, other_brand, suggestion):
    from tests.brands.conftest import make_user

    run_import(other_brand, csv_bytes(CUSTOMER_HEADER, [["i1", "Ina Initech", "", "", "", ""]]))
    client = client_for(make_user("ivan", other_brand, "admin"))
    for query in ({}, {"brand": other_brand.pk}):
        for name in ("customers:index", "customers:matches", "customers:loyalty-export"):
            body = client.get(reverse(name), query).content.decode()
            assert "Kim Lee" not in body, name
        assert "Ina Initech" in client.get(reverse("customers:index"), query).content.decode()


@pytest.mark.parametrize(
    ("role", "shown"), [("admin_user", True), ("marketer", False), ("agent", False)]
)
def test_the_main_navigation_links_customers_for_brand_admins_only(request, acme, role, shown):
    page = client_for(request.getfixturevalue(role)).get(reverse("home"), follow=True)

    assert (f'href="{reverse("customers:index")}"' in page.content.decode()) is shown
