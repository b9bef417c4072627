"""Reporting: what turns runs into figures and the claims ledger.

`study` (every study's command line and the runner), `workers` (grid points as jobs with per-point records),
`outputs` (the study JSON record and figure), `provenance` (the scale ladder, code version and guards on figures/),
`kit` (ledger rows, grid-point keys, statistics), `figures` (shared plot helpers), `ledger` (figures/CLAIMS.md from
the catalogue, the test names and the records) and `apidoc` (the README's public-API table). The top layer: it may
import everything below it, and nothing in the library imports it.
"""
