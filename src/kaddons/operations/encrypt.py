"""``kaddons cluster encrypt|decrypt addon|manifest NAME``: SOPS per-key encryption of the repository's files
(issue 12; Ankra's "file mode", ankra-addons.md §5.2).

Rules, as Ankra's: a key name matches anywhere in the document; a dotted ``--key a.b`` means its last segment
(``b``); a leading dot marks a literal key (``.dockerconfigjson``); only values are encrypted, keys stay
readable; ``encrypted_regex`` is ``^(k1|k2)$`` built from the list; the names are recorded in the document, in
``configuration.encrypted_paths`` (add-on) or ``encrypted_paths`` (manifest), in the file that declares the
member (comments kept).

* A file that is already encrypted is decrypted (with a key of this machine), its key list merged with the new
  names, and encrypted again; a file that arrives encrypted has its encrypted keys recorded.
* ``--set K=V`` sets a value and encrypts it in the same step: the plaintext exists only in memory and in the
  pipe to ``sops``, never in the working copy nor in a commit.
* After encrypting, every named value is checked to be ciphertext.
* Decrypting prints the plaintext; it never writes it into the working copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaddons.errors import ClusterDocumentError, ContentError, NotFoundError, UsageError
from kaddons.secrets import sops
from kaddons.secrets.detect import encrypted_keys, is_sops_encrypted, load_sops_output, plaintext_values
from kaddons.secrets.keys import read_recipients
from kaddons.stacks.load import LoadedCluster, MemberSource

__all__ = ["EncryptResult", "decrypt_member", "encrypt_member", "normalize_keys"]

SECRET_DATA_KEYS = ["data", "stringData"]
"""``--all-data``: every value under a Secret's ``data`` and ``stringData``."""


@dataclass
class EncryptResult:
    """What was encrypted: the member, its ``file`` (repository path), the key names now encrypted there, and
    ``warnings`` (plaintext of those keys found in earlier commits)."""

    kind: str
    name: str
    file: str
    keys: list[str]
    warnings: list[str] = field(default_factory=list)


def normalize_keys(keys: list[str]) -> list[str]:
    """Ankra's key names: ``a.b`` -> ``b``; ``.dockerconfigjson`` stays literal; duplicates dropped, in order."""
    names: list[str] = []
    for key in keys:
        key = key.strip()
        if not key or key == ".":
            raise UsageError(f"--key {key!r}: give a key name")
        name = key if key.startswith(".") else key.rsplit(".", 1)[-1]
        if name not in names:
            names.append(name)
    return names


def _member(loaded: LoadedCluster, kind: str, name: str) -> MemberSource:
    source = loaded.sources.get((kind, name))
    if source is None:
        known = sorted(n for k, n in loaded.sources if k == kind)
        raise NotFoundError(f"{loaded.path}: no {kind} named {name!r} ({kind}s: {', '.join(known) or 'none'})")
    if source.content_file is None:
        field = "configuration.from_file" if kind == "addon" else "from_file"
        raise UsageError(f"{kind} {name!r} has its content inline in {source.file}: move it to a file of its own "
                         f"({field}) to encrypt it there")
    return source


def _set(document: Any, dotted: str, value: str) -> None:
    node = document
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise UsageError(f"--set {dotted}: {part!r} is not a mapping in the file")
        node = child
    node[parts[-1]] = value


def _parse_sets(sets: list[str]) -> list[tuple[str, str]]:
    parsed = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key or (key.startswith(".") and len(key) == 1):
            raise UsageError(f"--set {item.split('=')[0]!r}: write it as KEY=VALUE (KEY dotted: auth.password=…)")
        parsed.append((key, value))
    return parsed


def encrypt_member(loaded: LoadedCluster, kind: str, name: str, *, keys: list[str], sets: list[str] | None = None,
                   all_data: bool = False) -> EncryptResult:
    """Encrypt the values (``kind`` ``addon``) or manifest (``manifest``) file of member ``name`` (see the
    module); write it and the document atomically. Raises :class:`~kaddons.errors.NotFoundError` for an unknown
    member, :class:`~kaddons.errors.UsageError` for inline content or no key,
    :class:`~kaddons.errors.ContentError` when the file cannot be decrypted or a value stays plaintext."""
    from kaddons.addons._yaml import parse_yaml, round_trip_yaml

    source = _member(loaded, kind, name)
    assert source.content_file is not None
    file = source.content_file
    relative = file.relative_to(loaded.repository.resolve()).as_posix()
    recipients = read_recipients(loaded.repository)
    names = normalize_keys(keys) + (SECRET_DATA_KEYS if all_data else [])
    assignments = _parse_sets(sets or [])
    names += [n for n in normalize_keys([k for k, _ in assignments]) if n not in names]
    text = file.read_text(encoding="utf-8")
    if is_sops_encrypted(text):
        already = encrypted_keys(parse_yaml(text, relative, error=ClusterDocumentError, documents=True))
        names = list(dict.fromkeys([*already, *_recorded(loaded, kind, name), *names]))
        text = sops.decrypt(text, what=relative)
    if not names:
        raise UsageError(f"{relative}: name the keys to encrypt: --key NAME (repeatable)"
                         + (" or --all-data" if kind == "manifest" else ""))
    if assignments:
        yaml = round_trip_yaml()
        documents = list(yaml.load_all(text))
        if len(documents) != 1:
            raise UsageError(f"{relative}: --set works on a file of one YAML document")
        document = documents[0] if documents[0] is not None else {}
        for key, value in assignments:
            _set(document, key, value)
        import io

        out = io.StringIO()
        yaml.dump(document, out)
        text = out.getvalue()
    warnings = _in_history(loaded, text, relative, names)
    ciphertext = sops.encrypt(text, keys=names, recipients=recipients, what=relative)
    left = plaintext_values(load_sops_output(ciphertext, relative), set(names))
    if left:
        raise ContentError(f"{relative}: {', '.join(left)} stayed plaintext after encryption: nothing written")
    _write(file, ciphertext)
    _record(source, kind, names)
    return EncryptResult(kind, name, relative, names, warnings)


def _in_history(loaded: LoadedCluster, text: str, relative: str, names: list[str]) -> list[str]:
    """A warning when the plaintext about to be encrypted is in the repository's history already."""
    from kaddons.addons._yaml import parse_yaml
    from kaddons.secrets.history import plaintext_in_history, secret_values

    documents = parse_yaml(text, relative, error=ClusterDocumentError, documents=True)
    hits = plaintext_in_history(loaded.repository, secret_values(documents, set(names)))
    if not hits:
        return []
    commits = sorted({revision for revision, _path in hits})
    files = sorted({path for _revision, path in hits})
    return [f"{relative}: the plaintext of {', '.join(names)} is in {len(commits)} earlier commit(s) "
            f"({', '.join(c[:12] for c in commits[:3])}{' …' if len(commits) > 3 else ''}; "
            f"{', '.join(files[:3])}{' …' if len(files) > 3 else ''}): encrypting it now does not remove it from "
            "history; change the secret itself at its source"]


def decrypt_member(loaded: LoadedCluster, kind: str, name: str) -> str:
    """The plaintext of member ``name``'s encrypted file (for the caller to print; nothing is written)."""
    source = _member(loaded, kind, name)
    assert source.content_file is not None
    relative = source.content_file.relative_to(loaded.repository.resolve()).as_posix()
    text = source.content_file.read_text(encoding="utf-8")
    if not is_sops_encrypted(text):
        raise UsageError(f"{relative} is not SOPS-encrypted: nothing to decrypt")
    return sops.decrypt(text, what=relative)


def _recorded(loaded: LoadedCluster, kind: str, name: str) -> list[str]:
    for stack in loaded.document.spec.stacks:
        if kind == "addon":
            for addon in stack.addons:
                if addon.name == name and addon.configuration is not None:
                    return list(addon.configuration.encrypted_paths)
        else:
            for manifest in stack.manifests:
                if manifest.name == name:
                    return list(manifest.encrypted_paths)
    return []


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.kaddons-tmp")
    with open(temp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def _record(source: MemberSource, kind: str, names: list[str]) -> None:
    """``names`` into the member's ``encrypted_paths`` in the file that declares it, comments kept."""
    from kaddons.addons._yaml import round_trip_yaml

    yaml = round_trip_yaml()
    text = source.file.read_text(encoding="utf-8")
    data = yaml.load(text)
    node = data
    for step in source.path:
        node = node[step]
    if kind == "addon":
        configuration = node.get("configuration")
        if not isinstance(configuration, dict):
            raise ClusterDocumentError(str(source.file), f"the add-on {node.get('name')!r} has no configuration")
        target = configuration
    else:
        target = node
    existing = [str(x) for x in target.get("encrypted_paths") or []]
    merged = list(dict.fromkeys([*existing, *names]))
    if merged == existing:
        return
    target["encrypted_paths"] = merged
    import io

    out = io.StringIO()
    yaml.dump(data, out)
    _write(source.file, out.getvalue())
