"""Reads of the engagement app, one module per area: queue, case. Every selector that
takes a user is scoped through brands.permissions."""
