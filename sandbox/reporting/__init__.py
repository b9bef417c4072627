"""Reporting: what turns runs into figures and the claims ledger.

`study` (every study's command line, JSON record and guards), `ledger` (figures/CLAIMS.md from the catalogue,
the test names and the records) and `apidoc` (the README's public-API table). The top layer: it may import
everything below it, and nothing in the library imports it.
"""
