"""Helm chart sources (HTTP ``index.yaml`` repositories and OCI registries), chart pulls verified and cached by
digest, and the preflight that renders every add-on's chart with its values before anything reaches Git
(phase 2, issue 11). Builds on :mod:`kaddons.oci` for OCI registries."""
