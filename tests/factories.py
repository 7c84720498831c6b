import factory

from brands.models import Brand
from listening.models import Source


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Brand {n}")
    query = "acme"


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    brand = factory.SubFactory(BrandFactory)
    kind = Source.Kind.RSS
    url = factory.Sequence(lambda n: f"http://127.0.0.1:9/feed-{n}.xml")
    poll_interval = 300
