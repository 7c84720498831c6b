"""Uploads too big for the request go to a real Celery worker process (the configured broker,
Redis in CI); the import page shows their progress until they are done."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from brands.models import Membership
from customers.models import Customer, CustomerImport, CustomerImportFile, Order
from customers.services import customer_import_run
from listening.services import brand_create
from tests.brands.conftest import make_user
from tests.customers.conftest import CUSTOMER_HEADER, ORDER_HEADER, csv_bytes
from tests.listening.test_tasks import Worker, purge_broker, wait_for

CUSTOMERS = csv_bytes(CUSTOMER_HEADER, [[f"c{i}", f"N{i}", "", "", "", ""] for i in range(50)])
ORDERS = csv_bytes(ORDER_HEADER, [["o1", "c1", "2025-01-01", "3", "EUR"], ["o2", "cX", "", "", ""]])


def upload(client: Client, brand, **files):
    return client.post(
        f"{reverse('customers:import')}?brand={brand.pk}",
        {k: SimpleUploadedFile(f"{k}.csv", v, "text/csv") for k, v in files.items()},
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_big_upload_is_imported_by_a_real_worker(settings):
    settings.EARSHOT_CUSTOMERS_INLINE_BYTES = 100
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    acme = brand_create(name="Acme", query="acme")
    client = Client()
    client.force_login(make_user("ada", acme, Membership.Role.ADMIN))
    purge_broker()
    worker = Worker([])
    try:
        response = upload(client, acme, customers=CUSTOMERS, orders=ORDERS)
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert "customers.csv is being imported in the background" in page

        def finished():
            record = CustomerImport.objects.get()
            return record if not record.is_pending else None

        record = wait_for(finished)
    finally:
        worker.stop()
    assert record.status == "done"
    assert (record.customers_stored, record.orders_stored, record.error_count) == (50, 1, 1)
    assert record.bytes_done == record.bytes_total == len(CUSTOMERS) + len(ORDERS)
    assert Customer.objects.count() == 50 and Order.objects.count() == 1
    assert not CustomerImportFile.objects.exists()  # the files are gone once imported
    # Finished: the listing no longer polls.
    fragment = client.get(reverse("customers:import"), {"brand": acme.pk}, HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in fragment.content.decode()
    assert "orders line 3: ordered_at is empty" in fragment.content.decode()


@pytest.mark.django_db
def test_a_queued_import_polls_and_runs_once(acme, admin_user, settings):
    settings.EARSHOT_CUSTOMERS_INLINE_BYTES = 100
    client = Client()
    client.force_login(admin_user)
    upload(client, acme, customers=CUSTOMERS)  # the test's transaction never commits: queued
    record = CustomerImport.objects.get()
    assert record.status == "queued"
    fragment = client.get(reverse("customers:import"), {"brand": acme.pk}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in fragment.content.decode()

    customer_import_run(import_id=record.pk)
    customer_import_run(import_id=record.pk)  # a redelivery after the files are gone: no-op

    record.refresh_from_db()
    assert (record.status, record.customers_stored) == ("done", 50)
    assert Customer.objects.count() == 50
    assert customer_import_run(import_id=10**9) is None
