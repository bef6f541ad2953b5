"""File transfer for firmware downloads and diagnostics uploads: HTTP(S) and FTP.

Standard library only (`urllib.request`, `ftplib`): both are blocking, so callers run
them in a thread (`asyncio.to_thread`). Every failure is a `TransferError`, which the
firmware and diagnostics jobs turn into DownloadFailed / UploadFailed after their retries.
"""

from __future__ import annotations

import ftplib
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit, urlunsplit

TIMEOUT_S = 30.0
SCHEMES = ("http", "https", "ftp")


class TransferError(Exception):
    """A download or upload failed (unreachable, refused, not found, unsupported URL)."""


class NotFound(TransferError):
    """The server said the file does not exist (HTTP 404, FTP 550)."""


def file_name(url: str) -> str:
    """The last path segment of a URL: the firmware image's name."""
    return unquote(PurePosixPath(urlsplit(url).path).name)


def download(url: str, dest: Path, *, timeout: float = TIMEOUT_S) -> None:
    """Fetch `url` into `dest` (written to a temporary name first, then renamed)."""
    parts = urlsplit(url)
    tmp = dest.with_name(dest.name + ".part")
    try:
        if parts.scheme in ("http", "https"):
            request = urllib.request.Request(url, headers={"User-Agent": "chargebox"})
            with (
                urllib.request.urlopen(request, timeout=timeout, context=_tls(parts.scheme)) as r,
                tmp.open("wb") as out,
            ):
                shutil.copyfileobj(r, out)
        elif parts.scheme == "ftp":
            with _ftp(url, timeout) as ftp, tmp.open("wb") as out:
                ftp.retrbinary(f"RETR {unquote(parts.path)}", out.write)
        else:
            raise TransferError(f"unsupported URL scheme {parts.scheme!r} (use {SCHEMES})")
        tmp.replace(dest)
    except urllib.error.HTTPError as exc:
        error = NotFound if exc.code == 404 else TransferError
        raise error(f"{public(url)}: HTTP {exc.code}") from exc
    except ftplib.error_perm as exc:
        error = NotFound if str(exc).startswith("550") else TransferError
        raise error(f"{public(url)}: {exc}") from exc
    except (OSError, ftplib.Error, ValueError) as exc:
        raise TransferError(f"{public(url)}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def upload(location: str, path: Path, *, timeout: float = TIMEOUT_S) -> str:
    """Put `path` into the directory URL `location` (HTTP PUT or FTP STOR); returns its URL.

    OCPP 1.6 names a directory in GetDiagnostics.req, so the file name is appended.
    """
    target = location.rstrip("/") + "/" + path.name
    parts = urlsplit(target)
    try:
        if parts.scheme in ("http", "https"):
            data = path.read_bytes()
            request = urllib.request.Request(
                target,
                data=data,
                method="PUT",
                headers={"Content-Type": "application/octet-stream", "User-Agent": "chargebox"},
            )
            with urllib.request.urlopen(request, timeout=timeout, context=_tls(parts.scheme)):
                pass
        elif parts.scheme == "ftp":
            with _ftp(location, timeout) as ftp, path.open("rb") as src:
                directory = unquote(urlsplit(location).path)
                if directory.strip("/"):
                    ftp.cwd(directory)
                ftp.storbinary(f"STOR {path.name}", src)
        else:
            raise TransferError(f"unsupported URL scheme {parts.scheme!r} (use {SCHEMES})")
    except urllib.error.HTTPError as exc:
        raise TransferError(f"{public(target)}: HTTP {exc.code}") from exc
    except (OSError, ftplib.Error, ValueError) as exc:
        raise TransferError(f"{public(target)}: {exc}") from exc
    return public(target)


def public(url: str) -> str:
    """The URL without its password, fit for a log line (logs go into diagnostics)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _tls(scheme: str) -> ssl.SSLContext | None:
    return ssl.create_default_context() if scheme == "https" else None


def _ftp(url: str, timeout: float) -> ftplib.FTP:
    """A logged-in passive-mode FTP session; no user in the URL means anonymous."""
    parts = urlsplit(url)
    ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
    except BaseException:
        ftp.close()
        raise
    return ftp
