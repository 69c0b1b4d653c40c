"""A real HTTP server on 127.0.0.1 serving weights archives, with the failures the installer must survive."""
from __future__ import annotations

import re
import shutil
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

from support import GOLDEN_MODELS, STEMS

#: what the server does with a file: "serve", "drop-first" (the first response stops half-way), "stall".
Behaviour = str


@dataclass
class ServedFiles:
    """The files a server serves by name, how, and the (name, Range header) of every request it received."""

    root: Path
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    release_stalled: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        served = self.server.served
        name = self.path.lstrip("/")
        served.requests.append((name, self.headers.get("Range")))
        path = served.root / name
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        size = path.stat().st_size
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Type", "application/zip")
        self.end_headers()
        behaviour = served.behaviours.get(name, "serve")
        if behaviour == "stall":
            served.release_stalled.wait(30)
            return
        first_request = sum(1 for requested, _ in served.requests if requested == name) == 1
        length = (size - start) // 2 if behaviour == "drop-first" and first_request else size - start
        with open(path, "rb") as stream:
            stream.seek(start)
            shutil.copyfileobj(_Limited(stream, length), self.wfile, 1 << 20)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Limited:
    """A read-only view of the first `length` bytes of a stream."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self.stream, self.left = stream, length

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    served: ServedFiles


@contextmanager
def serve(served: ServedFiles) -> Iterator[str]:
    """Serve `served` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.served = served
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        served.release_stalled.set()
        server.shutdown()
        server.server_close()


def checkpoint_files(models: Path = GOLDEN_MODELS) -> dict[str, Path]:
    """stem -> the fixture checkpoint `<models>/<stem>/pretrained_<stem>_unet.pth`."""
    return {stem: models / stem / f"pretrained_{stem}_unet.pth" for stem in STEMS}


def build_zip(path: Path, prefix: str = "pretrained_larsnet_models/", files: dict[str, Path] | None = None,
              extra: dict[str, bytes] | None = None) -> Path:
    """A stored (uncompressed) zip holding `<prefix><stem>/<checkpoint name>` for each stem, plus `extra` entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for stem, source in (checkpoint_files() if files is None else files).items():
            archive.write(source, f"{prefix}{stem}/{source.name}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path
