"""An S3-compatible endpoint on localhost (moto's server, real S3 wire protocol) for storage tests."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def s3_endpoint(monkeypatch, bucket: str = "arena") -> Iterator[str]:
    """Yields `http://127.0.0.1:PORT`, with credentials in the environment and `bucket` created."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key-id")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        import pyarrow.fs as pafs

        fs, _ = pafs.FileSystem.from_uri(f"s3://{bucket}?endpoint_override={endpoint}&allow_bucket_creation=true")
        fs.create_dir(bucket)
        yield endpoint
    finally:
        server.stop()
