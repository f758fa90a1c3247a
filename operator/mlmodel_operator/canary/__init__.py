"""Canary and shadow traffic between two versions of a package, and its promotion."""
