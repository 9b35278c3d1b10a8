"""Secrets in stacks (phase 2, issue 12): age keys, SOPS per-key encryption of add-on values and manifests
through the real ``sops`` binary, Ankra's key-matching rules, and the guards that keep plaintext out of Git."""
