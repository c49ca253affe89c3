"""The web front end: a search page and a JSON API over one opened index (``create_app``)."""
