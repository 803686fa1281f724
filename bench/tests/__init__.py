"""Tests of the harness itself; run with ``pytest -p no:django bench/tests``."""
