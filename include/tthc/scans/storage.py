"""Drop zones and archives on a local folder or an S3 bucket/prefix (the Airflow AWS connection's S3Hook client;
MinIO or moto through the connection's endpoint_url).

URIs: file:///abs/path or s3://bucket/key. The archive is write-once: put_immutable never
overwrites an existing object.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tthc.scans.config import S3Options


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    name: str                  # path relative to the store's root (the manifest's file name)
    size: int
    mtime: dt.datetime         # UTC
    refused: str | None = None # "reason: detail" when the drop must not hand the file over (never read)


HIDDEN_RULE = "hidden: a name starting with '.' (editors' and sync tools' files) is not a scan"


class RefusedPath(PermissionError):
    """A path of the drop that resolves outside it: never read."""


class Store:
    """Common interface of LocalStore and S3Store."""

    root_uri: str
    ignored: list[tuple[str, str]]   # (name, rule) of what the last list() left alone

    def list(self) -> Iterator[ObjectInfo]: raise NotImplementedError
    def stat(self, uri: str) -> ObjectInfo | None: raise NotImplementedError
    def read(self, uri: str) -> bytes: raise NotImplementedError
    def put_immutable(self, relative: str, data: bytes) -> tuple[str, bool]: raise NotImplementedError
    def delete(self, uri: str) -> None: raise NotImplementedError

    def uri(self, relative: str) -> str:
        return f"{self.root_uri}/{relative.lstrip('/')}"


def open_store(location: str, s3: S3Options | None = None) -> Store:
    if location.startswith("s3://"):
        return S3Store(location, s3 or S3Options())
    return LocalStore(location)


def store_for_uri(uri: str, s3: S3Options | None = None) -> Store:
    """A store able to read `uri` (its root is the URI's bucket or /)."""
    if uri.startswith("s3://"):
        return S3Store("s3://" + urlparse(uri).netloc, s3 or S3Options())
    return LocalStore("/")


class LocalStore(Store):
    def __init__(self, location: str):
        path = unquote(urlparse(location).path) if location.startswith("file://") else location
        self.root = Path(path).expanduser().resolve()
        self.root_uri = self.root.as_uri().rstrip("/")

    @staticmethod
    def _path(uri: str) -> Path:
        return Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri)

    def _info(self, path: Path, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(path.as_uri(), path.relative_to(self.root).as_posix(), st.st_size,
                          dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc))

    def list(self) -> Iterator[ObjectInfo]:
        """Regular files under the root, and symlinks: one whose target stays inside the drop is listed
        like a file (a link to another scan of the drop becomes its duplicate); one that leaves the drop,
        dangles or points at a folder is listed as refused, with the link's own size and time, and
        never followed. Names starting with '.' (files or folders) are ignored and remembered."""
        self.ignored = []
        if not self.root.is_dir():
            raise FileNotFoundError(f"drop folder {self.root} does not exist")
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            base = Path(folder)
            for name in sorted(dirs):
                if name.startswith("."):
                    self.ignored.append(((base / name).relative_to(self.root).as_posix() + "/", HIDDEN_RULE))
                elif (base / name).is_symlink():
                    files.append(name)   # a folder symlink is refused like a file symlink
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (base / d).is_symlink())
            for name in sorted(files):
                path = base / name
                if name.startswith("."):
                    self.ignored.append((path.relative_to(self.root).as_posix(), HIDDEN_RULE))
                    continue
                if path.is_symlink():
                    yield self._link_info(path)
                elif path.is_file():
                    yield self._info(path, path.stat())

    def _link_info(self, path: Path) -> ObjectInfo:
        info = self._info(path, path.lstat())
        problem = self._escape(path)
        if problem:
            return ObjectInfo(info.uri, info.name, info.size, info.mtime, f"symlink_outside_drop: {problem}")
        return ObjectInfo(info.uri, info.name, path.stat().st_size, info.mtime)

    def _escape(self, path: Path) -> str | None:
        """Why a symlink may not be read (its target is named, never opened), or None."""
        name = path.relative_to(self.root).as_posix()
        try:
            target = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            return f"{name} is a symbolic link whose target does not exist (or loops)"
        if not target.is_relative_to(self.root):
            return f"{name} is a symbolic link to {target}, outside the drop {self.root}; not read"
        if not target.is_file():
            return f"{name} is a symbolic link to {target}, which is not a regular file; not read"
        return None

    def stat(self, uri: str) -> ObjectInfo | None:
        path = self._path(uri)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(path.as_uri(), path.name, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc))

    def read(self, uri: str) -> bytes:
        path = self._path(uri)
        if path.is_relative_to(self.root):
            # Checked again at read time: the link may have changed since the listing.
            target = path.resolve()
            if not target.is_relative_to(self.root):
                raise RefusedPath(f"{path.relative_to(self.root).as_posix()} is a symbolic link to {target}, "
                                  f"outside the drop {self.root}; not read")
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        return path.read_bytes()

    def put_immutable(self, relative: str, data: bytes) -> tuple[str, bool]:
        """Write once: (uri, written). An existing object is left as it is."""
        target = self.root / relative
        if target.exists():
            return target.as_uri(), False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, target)  # atomic and fails if the target appeared meanwhile
                written = True
            except FileExistsError:
                written = False
        finally:
            os.unlink(tmp)
        return target.as_uri(), written

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)


class S3Store(Store):
    def __init__(self, location: str, options: S3Options):
        from tthc.connections import s3_client

        parsed = urlparse(location)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.root_uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.client = s3_client(options.conn_id)

    def _key(self, uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        return parsed.netloc, parsed.path.lstrip("/")

    def list(self) -> Iterator[ObjectInfo]:
        self.ignored = []
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                name = key[len(prefix):]
                if key.endswith("/"):
                    continue
                if any(part.startswith(".") for part in name.split("/")):
                    self.ignored.append((name, HIDDEN_RULE))
                    continue
                yield ObjectInfo(f"s3://{self.bucket}/{key}", name, int(obj["Size"]),
                                 obj["LastModified"].astimezone(dt.timezone.utc))

    def stat(self, uri: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        bucket, key = self._key(uri)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(uri, key.rsplit("/", 1)[-1], int(head["ContentLength"]),
                          head["LastModified"].astimezone(dt.timezone.utc))

    def read(self, uri: str) -> bytes:
        bucket, key = self._key(uri)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def put_immutable(self, relative: str, data: bytes) -> tuple[str, bool]:
        uri = self.uri(relative)
        if self.stat(uri) is not None:
            return uri, False
        bucket, key = self._key(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return uri, True

    def delete(self, uri: str) -> None:
        bucket, key = self._key(uri)
        self.client.delete_object(Bucket=bucket, Key=key)
