"""Earshot's admin site: Django's, with its sign-in under the one sign-in limiter."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from brands.forms import AdminLoginForm
from brands.signin_services import signin_refused_for


class EarshotAdminSite(admin.AdminSite):
    """/admin/login/ is where brand admins and superusers sign in, so it must refuse guesses
    like /login/ does (issue 9). The limit itself is in the authentication backend; the form
    says when to try again and the page answers 429 while refused."""

    login_form = AdminLoginForm
    site_header = "Earshot administration"
    site_title = "Earshot admin"

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        response = super().login(request, extra_context)
        if signin_refused_for(request) is not None:
            response.status_code = 429
        return response
