"""Source connectors: fetch and parse only. They return plain dataclasses; services store."""
