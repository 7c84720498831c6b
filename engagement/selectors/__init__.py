"""Reads of the engagement app, one module per area: auth, queue, case. Every selector that
takes a user is scoped through engagement.permissions."""
