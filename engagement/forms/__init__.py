"""Forms of the engagement pages, one module per area: queue, case."""
