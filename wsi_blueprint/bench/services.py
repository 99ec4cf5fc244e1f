"""Local services for benchmarks and tests: memcached, Redis and an S3-protocol server on
loopback.

All are real processes (memcached and redis-server from the system, moto in server mode from
the test extras), started on free ports and stopped by their owner.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Memcached:
    """A memcached process on a free loopback port; can be stopped and started again."""

    def __init__(self, memory_mb: int = 64) -> None:
        self.memory_mb = memory_mb
        self.binary = shutil.which("memcached") or "/usr/bin/memcached"
        if not os.path.exists(self.binary):
            raise RuntimeError("memcached is not installed (deploy/install-system-deps.sh "
                               "installs it)")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Memcached":
        self.process = subprocess.Popen(
            [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
             "-m", str(self.memory_mb),
             "-u", "nobody"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Redis:
    """A redis-server process on a free loopback port, nothing saved to disk; can be stopped
    and started again."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(self.binary):
            raise RuntimeError("redis-server is not installed (deploy/install-system-deps.sh "
                               "installs it)")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "Redis":
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class S3Server:
    """moto in server mode: a separate process speaking the S3 protocol on loopback."""

    def __init__(self) -> None:
        import botocore.session

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        self.client = botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = "slides-" + uuid.uuid4().hex[:12]
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
