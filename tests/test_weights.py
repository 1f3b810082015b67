"""Weights found like torchvision's: user path, cache, download (from a local server), offline error."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from maskbench.errors import MissingWeightsError
from maskbench.weights import WeightsFile, locate_weights

PAYLOAD = b"not really weights, but bytes with a known hash\n" * 1000
PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving PAYLOAD as /tiny-*; yields (base URL, requested paths)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if not self.path.startswith("/tiny-"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _tiny(base: str, name: str | None = None) -> WeightsFile:
    return WeightsFile(
        "a test network", f"{base}/{name or f'tiny-{PREFIX}.pth'}", option="tiny_weights", hint="or skip it"
    )


def test_a_missing_file_is_downloaded_into_the_cache_once(server, tmp_path, monkeypatch) -> None:
    base, requests = server
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MASKBENCH_OFFLINE")
    path = locate_weights(_tiny(base), progress=False)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / f"tiny-{PREFIX}.pth"
    assert path.read_bytes() == PAYLOAD and requests == [f"/tiny-{PREFIX}.pth"]
    assert locate_weights(_tiny(base), progress=False) == path
    assert len(requests) == 1  # the second call found it in the cache


def test_a_download_with_the_wrong_hash_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch) -> None:
    base, _ = server
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MASKBENCH_OFFLINE")
    with pytest.raises(MissingWeightsError, match=r"cannot be downloaded .*invalid hash value"):
        locate_weights(_tiny(base, "tiny-00000000.pth"), progress=False)
    assert not any((tmp_path / "torch" / "hub" / "checkpoints").glob("tiny-*"))


def test_offline_names_the_file_its_url_and_the_folder(server, tmp_path, monkeypatch) -> None:
    base, requests = server
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(MissingWeightsError) as raised:
        locate_weights(_tiny(base), progress=False)
    message = str(raised.value)
    assert "\n" not in message and requests == []
    for part in (
        f"tiny-{PREFIX}.pth",
        f"{base}/tiny-{PREFIX}.pth",
        str(folder),
        "MASKBENCH_OFFLINE",
        "tiny_weights",
        "or skip it",
    ):
        assert part in message


def test_no_network_is_offline_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MASKBENCH_OFFLINE")
    closed = WeightsFile(
        "a test network", f"http://127.0.0.1:9/tiny-{PREFIX}.pth", option="tiny_weights"
    )  # port 9: discard
    with pytest.raises(
        MissingWeightsError, match=rf"no network.*download http://127\.0\.0\.1:9/tiny-{PREFIX}\.pth into"
    ):
        locate_weights(closed, progress=False)


def test_a_given_path_is_used_and_checked(server, tmp_path) -> None:
    base, requests = server
    given = tmp_path / "mine.pth"
    given.write_bytes(PAYLOAD)
    assert locate_weights(_tiny(base), given) == given
    given.write_bytes(b"something else")
    with pytest.raises(MissingWeightsError, match=rf"expected {PREFIX}…"):
        locate_weights(_tiny(base), given)
    with pytest.raises(MissingWeightsError, match=r"not found at .*absent\.pth \(given by tiny_weights\)"):
        locate_weights(_tiny(base), tmp_path / "absent.pth")
    assert requests == []
