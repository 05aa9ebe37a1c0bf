"""Where a warehouse (or any folder / prefix the pipeline reads) is: parsed once, asked everywhere.

In: a location as configured: a folder path, a ``file://`` URL, or an object-store URL such as
``s3://bucket/prefix``. Out: a :class:`Location` that answers what the callers used to decide by
string tests: is it remote (object storage), its local folder, a child location, a URI to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A parsed location. ``url`` is as given; ``scheme`` is ``""`` for a plain path."""

    url: str

    @classmethod
    def parse(cls, url: str | Path) -> Location:
        return cls(str(url))

    @property
    def scheme(self) -> str:
        """``s3``, ``file``, ... or ``""`` for a plain path."""
        head, sep, _ = self.url.partition("://")
        return head if sep else ""

    @property
    def is_remote(self) -> bool:
        """On object storage (any URL but ``file://``), so not a local folder."""
        return self.scheme not in ("", "file")

    @property
    def without_scheme(self) -> str:
        """The location without its ``<scheme>://`` (a bucket/prefix, or the path itself)."""
        return self.url.split("://", 1)[-1]

    @property
    def root(self) -> str:
        """What DuckDB and pyarrow open: the folder of a local location (no ``file://``), else the URL;
        without a trailing ``/``."""
        return self.url.rstrip("/").removeprefix("file://")

    @property
    def path(self) -> Path:
        """The local folder; ValueError for a remote location."""
        if self.is_remote:
            raise ValueError(f"{self.url} is on object storage, not a local folder")
        return Path(self.url.removeprefix("file://"))

    def child(self, relative: str) -> str:
        """``relative`` (a ``/``-separated key) under this location: a URL for a remote one, else a path."""
        if self.is_remote:
            return f"{self.url.rstrip('/')}/{relative}"
        return str(self.path / relative)

    def as_uri(self) -> str:
        """A URI to show or open: the URL itself when it has a scheme, else ``file://`` of the path."""
        return self.url if self.scheme else Path(self.url).as_uri()
