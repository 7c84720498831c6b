"""The connector registry and Source.Kind name the same kinds: adding a connector to one and
not the other (a kind nobody can fetch, or a connector no source can choose) fails here."""

from __future__ import annotations

import pytest

from listening.connectors.base import Connector
from listening.connectors.registry import CONNECTORS, UnknownSourceKind, connector_for
from listening.models import Source


def test_every_source_kind_has_a_connector_and_every_connector_a_kind() -> None:
    assert list(CONNECTORS) == list(Source.Kind.values)


@pytest.mark.parametrize("kind", list(CONNECTORS))
def test_each_registered_connector_loads_and_says_its_own_kind(kind: str) -> None:
    connector = connector_for(kind)
    assert isinstance(connector, Connector)
    assert connector.kind == kind
    assert connector.platform and connector.url_help


def test_an_unknown_kind_is_a_connector_error() -> None:
    with pytest.raises(UnknownSourceKind, match="'gopher'"):
        connector_for("gopher")
