"""Views of the engagement pages, one module per area: auth, queue, case (routes in urls/)."""
