"""HTTP(S) download into a `.part` file that survives interruptions: resume with Range, timeout, retry, progress.

Only the standard library: `urllib` for the request, the socket timeout for stalled servers.
"""
from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DownloadError
from . import ProgressCallback


CHUNK_BYTES = 1 << 20
#: HTTP statuses worth another try; every other error status fails at once.
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "lars-service (weights installer)"


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not (timeout, dropped connection, 5xx)."""


def part_path(destination: Path) -> Path:
    """Where the bytes received so far are kept: `<destination>.part`."""
    return destination.with_name(destination.name + ".part")


def download(url: str, destination: Path, *, timeout: float = 30.0, retries: int = 3, backoff: float = 1.0,
             progress: ProgressCallback | None = None) -> Path:
    """Download `url` to `destination`, resuming from `<destination>.part` when an earlier attempt left one.

    Args:
        timeout: seconds to wait for the connection and for each read; a server that stalls longer fails the attempt.
        retries: further attempts after a failed one, `backoff * 2**n` seconds apart; each resumes where the last stopped.
        progress: called with ("download", bytes so far, total bytes or 0), at most about once per percent.

    Returns:
        `destination`, complete (renamed from the `.part` file only once every byte arrived).

    Raises:
        DownloadError: an HTTP error status (404, 403, ...) at once, or a network failure after every retry;
            the `.part` file is kept so that running the install again resumes.
    """
    partial = part_path(destination)
    failures: list[str] = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch(url, partial, timeout, progress)
        except _Retryable as failure:
            failures.append(str(failure))
            continue
        os.replace(partial, destination)
        return destination
    raise DownloadError(
        f"could not download {url} after {retries + 1} attempt(s): {failures[-1]}. Check the URL and the connection, "
        f"then run the same install again: it resumes from the {partial.stat().st_size if partial.exists() else 0} "
        "bytes already received. Or download the zip another way and install it from its local path.",
        url=url, attempts=failures, partial=str(partial),
    )


def _fetch(url: str, partial: Path, timeout: float, progress: ProgressCallback | None) -> None:
    """One attempt: append the missing bytes to `partial`. Raises _Retryable or DownloadError."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset and _complete_size(error.headers.get("Content-Range")) == offset:
            return  # everything had arrived already
        if error.code == 416:
            partial.unlink(missing_ok=True)
            raise _Retryable(f"the server refused to resume at byte {offset} (416); starting over") from error
        if error.code in RETRYABLE_STATUSES:
            raise _Retryable(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(
            f"{url} answered HTTP {error.code} {error.reason}. The link may have moved: use a current mirror of the "
            "official pretrained_larsnet_models zip, or a local copy of it.", url=url, status=error.code,
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise _Retryable(f"cannot connect: {getattr(error, 'reason', error)}") from error
    with response:
        resumed = response.status == 206
        if resumed and _range_start(response.headers.get("Content-Range")) != offset:
            partial.unlink(missing_ok=True)
            raise _Retryable("the server resumed at the wrong byte; starting over")
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else 0
        _receive(response, partial, start, total, progress)


def _receive(response: http.client.HTTPResponse, partial: Path, start: int, total: int,
             progress: ProgressCallback | None) -> None:
    """Write the body to `partial` from byte `start` (appending on a resume, from scratch otherwise)."""
    done = start
    step = max(total // 100, CHUNK_BYTES)
    reported = -step
    try:
        with open(partial, "r+b" if start else "wb") as stream:
            stream.seek(start)
            stream.truncate()
            while chunk := response.read(CHUNK_BYTES):
                stream.write(chunk)
                done += len(chunk)
                if progress and (done - reported >= step or done == total):
                    progress("download", done, total)
                    reported = done
    except (http.client.HTTPException, OSError) as error:  # dropped connection, stalled read (TimeoutError)
        raise _Retryable(f"connection lost after {done} bytes ({type(error).__name__}: {error})") from error
    if total and done != total:
        raise _Retryable(f"connection closed after {done} of {total} bytes")


def _range_start(content_range: str | None) -> int | None:
    """`bytes 100-199/200` -> 100."""
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range or "")
    return int(match.group(1)) if match else None


def _complete_size(content_range: str | None) -> int | None:
    """`bytes */200` (a 416 answer) -> 200."""
    match = re.match(r"bytes \*/(\d+)", content_range or "")
    return int(match.group(1)) if match else None
