"""Jinja templates of the HTML report."""
