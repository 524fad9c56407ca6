"""A local S3 (moto's server on 127.0.0.1) that counts the requests it answers, per method and path."""

from __future__ import annotations

import gc
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


class CountingMotoServer(ThreadedMotoServer):
    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._client: Any = None

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests[(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))] += 1
            return app(environ, start_response)

        self._server = make_server("127.0.0.1", 0, counting, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def gets(self, bucket: str, key: str) -> int:
        return self.requests[("GET", f"/{bucket}/{key}")]

    def client(self) -> Any:
        """One client for the server's life (boto3 clients are thread-safe), closed with the server."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=CREDENTIALS["AWS_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        super().stop()
        if self._server is not None:
            self._server.server_close()  # the base class leaves the listening socket open
        # When moto answers an error (NoSuchKey), the request's socket ends up in a reference cycle
        # with the exception's traceback and is only finalised by a later garbage collection, in
        # whatever test runs then. Collect here, where it belongs, without the ResourceWarning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()

    def env(self) -> dict[str, str]:
        """What a pod gets from its workload identity and the VPC endpoint, here: the local server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": self.url}


@contextmanager
def local_s3() -> Iterator[CountingMotoServer]:
    server = CountingMotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
