"""Dagster asset definitions, thin: each calls one function of the plain library."""
