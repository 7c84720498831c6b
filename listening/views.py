from django.http import Http404, HttpRequest, HttpResponse


def demo_feed(request: HttpRequest, name: str, ext: str) -> HttpResponse:
    raise Http404("demo feeds are not built yet")
