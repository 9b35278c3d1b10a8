"""Fixtures of the stacks tests: the shared test data (CRDs, charts)."""

from tests.addons.conftest import testdata  # noqa: F401  (the testdata fixture, shared)
