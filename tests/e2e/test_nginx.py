"""Streams through a real nginx, configured with deploy/nginx-tracking.conf."""

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import ROOT, Server, free_port
from tests.e2e.streams import Recorder, wait_until
from tracking.recording import record_event

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The sample's read timeout, shortened so the test can outlive it in seconds.
READ_TIMEOUT = 2


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def nginx(server: Server, tmp_path: Path) -> Iterator[str]:
    """A real nginx on a free loopback port in front of the shared server."""
    port = free_port()
    locations = (ROOT / "deploy" / "nginx-tracking.conf").read_text()
    locations = locations.replace(
        "proxy_read_timeout 60s", f"proxy_read_timeout {READ_TIMEOUT}s"
    )
    (tmp_path / "tracking.conf").write_text(locations)
    (tmp_path / "nginx.conf").write_text(f"""
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    upstream tracking_app {{ server 127.0.0.1:{server.port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        include {tmp_path}/tracking.conf;
    }}
}}
""")
    process = subprocess.Popen(
        [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 10, "nginx to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_events_pass_nginx_unbuffered_and_outlive_its_read_timeout(
    nginx: str, make_order: Any, token_headers: Any
):
    order = make_order()
    stream = Recorder(f"{nginx}/orders/{order.reference}/events", token_headers(order))
    stream.start().wait_for_events(1)

    time.sleep(READ_TIMEOUT * 2)  # idle past nginx's read timeout: heartbeats only
    started = time.monotonic()
    record_event(order, "note", {"message": "through nginx"})
    stream.wait_for_events(2, timeout=5)
    delay = time.monotonic() - started
    stream.stop()

    assert stream.error is None
    assert stream.ids() == [1, 2]
    assert stream.parser.comments_seen >= READ_TIMEOUT * 2
    assert delay < 3, f"the event took {delay:.1f} s through nginx: buffered?"
    assert stream.response_headers is not None
    assert stream.response_headers["content-type"] == "text/event-stream"
