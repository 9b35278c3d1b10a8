"""``addon.manifest.yaml``: the typed model and its loader (spec §1.4).

The model follows ``addons/addon.manifest.schema.json`` (JSON Schema 2020-12) key for key. It
accepts what K2s accepts and rejects what K2s's Go loader rejects, so a manifest that passes here
cannot break ``k2s addons`` (§8.23); on top of the schema it demands what the Go CLI needs in
practice (``apiVersion: v1``, at least one implementation) and unique implementation names.
Unknown keys are allowed and kept, as in the schema (no ``additionalProperties: false``): every
model has ``extra="allow"`` and :meth:`AddonManifest.to_data` gives back the parsed data unchanged.
Fields keep the YAML spelling as aliases (``subPath``, ``offline_usage``); ``null`` is rejected
wherever the schema wants a value of a type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from kaddons.addons._yaml import describe_error, parse_yaml, yaml_type
from kaddons.errors import AddonManifestError

__all__ = [
    "MANIFEST_FILE", "MAX_MANIFEST_SIZE", "AddonImplementation", "AddonManifest", "Command", "CommandCli",
    "Commands", "CurlDownload", "Example", "Flag", "LinuxOfflineUsage", "Metadata", "OfflineUsage",
    "ParameterMapping", "Range", "RangeConstraint", "Script", "Spec", "ValidationSetConstraint",
    "WindowsOfflineUsage", "load_manifest", "parse_manifest_bytes", "parse_manifest_text",
]

MANIFEST_FILE = "addon.manifest.yaml"
"""The file name that marks a directory as an addon (§1.5)."""


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "expected a value, got null")
    return value


def _unique(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            raise PydanticCustomError("unique_items", f"duplicate item {item!r}")
        seen.append(item)
    return items


def _scalar(value: Any) -> str | bool | int | float:
    if not isinstance(value, str | bool | int | float):
        raise PydanticCustomError("flag_default", f"expected a string, number or boolean, got {yaml_type(value)}")
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_type", f"expected a number, got {yaml_type(value)}")
    return value


_NotNull = BeforeValidator(_not_null)
_UniqueStrings = Annotated[list[str], AfterValidator(_unique)]
_Number = Annotated[int | float, PlainValidator(_number)]
_Scalar = Annotated[str | bool | int | float, PlainValidator(_scalar)]


class _Model(BaseModel):
    # schemas are built on first validation, not at import: a no-op sync never validates one
    model_config = ConfigDict(extra="allow", defer_build=True)


class ParameterMapping(_Model):
    """``script.parameterMappings[]``: a CLI flag mapped to a PowerShell parameter."""

    cli_flag_name: str = Field(alias="cliFlagName")
    script_parameter_name: str = Field(alias="scriptParameterName")


class Script(_Model):
    """``commands.<cmd>.script``: ``subPath`` is relative to the addon's base dir, also for multi-impl."""

    sub_path: str = Field(alias="subPath")
    parameter_mappings: Annotated[list[ParameterMapping], _NotNull] = Field(
        default_factory=list, alias="parameterMappings")


class ValidationSetConstraint(_Model):
    """``constraints`` of kind ``validation-set``: the flag's value must be one of ``validationSet``."""

    kind: Literal["validation-set"]
    validation_set: Annotated[_UniqueStrings, Field(min_length=1)] = Field(alias="validationSet")


class Range(_Model):
    """``constraints.range``: inclusive numeric bounds."""

    min: _Number
    max: _Number


class RangeConstraint(_Model):
    """``constraints`` of kind ``range``."""

    kind: Literal["range"]
    range: Range


class Flag(_Model):
    """``cli.flags[]``. The YAML type of ``default`` (str, bool, int, float) is the flag's type."""

    name: str
    default: _Scalar
    shorthand: Annotated[str | None, _NotNull] = None
    description: Annotated[str | None, _NotNull] = None
    constraints: Annotated[ValidationSetConstraint | RangeConstraint | None, _NotNull,
                           Field(discriminator="kind")] = None
    exclusion_group: Annotated[str | None, _NotNull] = Field(None, alias="exclusionGroup")


class Example(_Model):
    """``cli.examples[]``: help text."""

    cmd: str
    comment: Annotated[str | None, _NotNull] = None


class CommandCli(_Model):
    """``commands.<cmd>.cli``."""

    flags: Annotated[list[Flag], _NotNull] = Field(default_factory=list)
    examples: Annotated[list[Example], _NotNull] = Field(default_factory=list)


class Command(_Model):
    """``commands.<cmd>``: the script to run and the CLI that runs it."""

    script: Script
    cli: Annotated[CommandCli | None, _NotNull] = None


class Commands(_Model):
    """``commands``: ``enable`` and ``disable`` are required; any other key (``update``...) is a command too."""

    __pydantic_extra__: dict[str, Command] = Field(init=False)
    enable: Command
    disable: Command

    def all(self) -> dict[str, Command]:
        """Every command by name, ``enable`` and ``disable`` first."""
        return {"enable": self.enable, "disable": self.disable, **(self.model_extra or {})}


class CurlDownload(_Model):
    """``offline_usage.*.curl[]``: a file downloaded on export and placed at ``destination`` on import."""

    url: str
    destination: str


class LinuxOfflineUsage(_Model):
    """``offline_usage.linux``: apt repos, deb packages, downloads and images for the Linux node."""

    repos: _UniqueStrings
    deb: _UniqueStrings
    curl: list[CurlDownload]
    additional_images: _UniqueStrings = Field(alias="additionalImages")
    additional_images_files: Annotated[_UniqueStrings, _NotNull] = Field(
        default_factory=list, alias="additionalImagesFiles")


class WindowsOfflineUsage(_Model):
    """``offline_usage.windows``; ``additionalImages``/``additionalImagesFiles`` are outside the schema."""

    curl: list[CurlDownload]
    additional_images: Annotated[list[str], _NotNull] = Field(default_factory=list, alias="additionalImages")
    additional_images_files: Annotated[list[str], _NotNull] = Field(
        default_factory=list, alias="additionalImagesFiles")


class OfflineUsage(_Model):
    """``offline_usage``: when present, both ``linux`` and ``windows`` are required."""

    linux: LinuxOfflineUsage
    windows: WindowsOfflineUsage


class AddonImplementation(_Model):
    """``spec.implementations[]``. ``version`` is not in the schema; only Export.ps1 reads it (§2.13)."""

    name: str
    description: Annotated[str | None, _NotNull] = None
    version: Annotated[str | None, _NotNull] = None
    commands: Commands
    offline_usage: Annotated[OfflineUsage | None, _NotNull] = None


def _unique_names(implementations: list[AddonImplementation]) -> list[AddonImplementation]:
    names = [impl.name for impl in implementations]
    for name in names:
        if names.count(name) > 1:
            raise PydanticCustomError("unique_names", f"duplicate implementation name {name!r}")
    return implementations


class Metadata(_Model):
    """``metadata``: the addon's name (also its CLI name and folder) and description."""

    name: str
    description: str


class Spec(_Model):
    """``spec``: implementations in manifest order."""

    implementations: Annotated[list[AddonImplementation], Field(min_length=1), AfterValidator(_unique_names)]


class AddonManifest(_Model):
    """A whole ``addon.manifest.yaml`` (§1.4)."""

    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["AddonManifest"]
    metadata: Metadata
    spec: Spec

    def to_data(self) -> dict[str, Any]:
        """The manifest as plain data with its YAML keys, unknown keys included, nothing added."""
        return self.model_dump(by_alias=True, exclude_unset=True)


MAX_MANIFEST_SIZE = 4 * 1024 * 1024
"""Larger files are refused unread (real manifests are a few KiB; §8.19 asks for limits)."""


def _validate(data: Any, source: str) -> AddonManifest:
    if data is None:
        raise AddonManifestError(source, "empty document, expected an AddonManifest")
    try:
        return AddonManifest.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise AddonManifestError(source, describe_error(errors[0], data) + more) from None


def parse_manifest_text(text: str, source: str = "<string>") -> AddonManifest:
    """Parse and validate manifest YAML held in memory (a leading BOM character is ignored).

    ``source`` names the origin in error messages. Raises :class:`~kaddons.errors.AddonManifestError`
    with one line: ``<source>: line L, column C: <YAML problem>`` for text that is not YAML (duplicate
    keys included), or ``<source>: <YAML path>: <what was expected>`` for a schema violation, e.g.
    ``spec.implementations[0].commands: 'disable' is required``.
    """
    return _validate(parse_yaml(text.removeprefix("\ufeff"), source), source)


def parse_manifest_bytes(data: bytes, source: str = "<bytes>") -> AddonManifest:
    """Decode ``data`` as UTF-8 with an optional BOM ([COMPAT] §1.4), then :func:`parse_manifest_text`.

    Raises :class:`~kaddons.errors.AddonManifestError` for bytes that are not UTF-8 or not a manifest.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AddonManifestError(source, f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
                                 ) from None
    return parse_manifest_text(text, source)


def load_manifest(path: str | Path) -> AddonManifest:
    """Read and validate the ``addon.manifest.yaml`` at ``path`` (§1.4); messages name ``path`` as given.

    Raises :class:`~kaddons.errors.AddonManifestError` (exit 4) for a file that is not a valid
    manifest, is larger than :data:`MAX_MANIFEST_SIZE`, or cannot be read (the OS reason).
    """
    source = str(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_MANIFEST_SIZE + 1)
    except OSError as err:
        raise AddonManifestError(source, f"cannot read: {err.strerror or err}") from None
    if len(data) > MAX_MANIFEST_SIZE:
        raise AddonManifestError(source, f"larger than {MAX_MANIFEST_SIZE} bytes, not an addon manifest")
    return parse_manifest_bytes(data, source)
