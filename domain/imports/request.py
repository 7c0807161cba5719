"""What a `startImport` request asks for, checked: one source, a destination directory."""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalog.paths import check_path
from domain.shared.errors import Invalid
from domain.shared.ids import parse_uuid

MAX_MESSAGE = 65536


@dataclass(frozen=True)
class ImportRequest:
    """A checked request: `connector_id`, or the source organization and repository names."""

    connector_id: str
    source_organization: str
    source_repository: str
    destination_path: str
    source_prefix: str
    commit_message: str

    @property
    def from_repository(self) -> bool:
        return not self.connector_id


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string")
    return value


def directory(value: object, field: str) -> str:
    """A directory prefix: no leading '/', no empty or dot segments, one trailing '/'
    (empty means the repository's root)."""
    text = _text(value, field).strip()
    if text.startswith("/"):
        raise Invalid(f"{field} must not start with '/'")
    if text and not text.endswith("/"):
        text += "/"
    if text:
        check_path(text[:-1], field, new=True)
    return text


def check_request(
    *,
    connector_id: object,
    source_organization: object,
    source_repository: object,
    destination_path: object,
    source_prefix: object,
    commit_message: object,
) -> ImportRequest:
    """Exactly one source (a connector, or an organization and a repository), and a
    destination directory; `Invalid` naming what is wrong otherwise."""
    connector = _text(connector_id, "connector_id").strip()
    organization = _text(source_organization, "source_organization").strip()
    repository = _text(source_repository, "source_repository").strip()
    if connector and (organization or repository):
        raise Invalid(
            "give either connector_id or source_organization and source_repository, not both"
        )
    if not connector and not (organization and repository):
        if organization or repository:
            raise Invalid("source_organization and source_repository go together: give both")
        raise Invalid(
            "give connector_id, or source_organization and source_repository, to say what to "
            "import from"
        )
    if connector and parse_uuid(connector) is None:
        raise Invalid("connector_id must be a UUID")
    if destination_path is None or (isinstance(destination_path, str) and not destination_path):
        raise Invalid("destination_path is required")
    destination = directory(destination_path, "destination_path")
    prefix = _text(source_prefix, "source_prefix")
    if prefix.startswith("/"):
        raise Invalid("source_prefix must not start with '/'")
    if "\x00" in prefix:
        raise Invalid("source_prefix must not contain NUL characters")
    message = _text(commit_message, "commit_message")
    if len(message) > MAX_MESSAGE:
        raise Invalid(f"commit_message must be at most {MAX_MESSAGE} characters")
    return ImportRequest(
        connector_id=str(parse_uuid(connector)) if connector else "",
        source_organization=organization,
        source_repository=repository,
        destination_path=destination,
        source_prefix=prefix,
        commit_message=message,
    )


def relative_key(key: str, listed_prefix: str) -> str:
    """Where a source key lands under the destination: its part after the listed prefix's
    directory (a prefix `data/tr` filters `data/train.csv`, which lands as `train.csv`)."""
    base = listed_prefix[: listed_prefix.rfind("/") + 1]
    return key[len(base) :] if key.startswith(base) else key
