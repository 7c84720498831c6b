"""Sign-in, sign-out, password change and the home redirect (no namespace)."""

urlpatterns: list = []
