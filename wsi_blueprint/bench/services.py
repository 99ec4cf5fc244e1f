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


class _LoopbackDaemon:
    """A server process on a free loopback port; can be stopped and started again."""

    program = ""

    def __init__(self) -> None:
        self.binary = shutil.which(self.program) or f"/usr/bin/{self.program}"
        if not os.path.exists(self.binary):
            raise RuntimeError(f"{self.program} is not installed "
                               "(deploy/install-system-deps.sh installs it)")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Memcached(_LoopbackDaemon):
    program = "memcached"

    def __init__(self, memory_mb: int = 64) -> None:
        super().__init__()
        self.memory_mb = memory_mb

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                "-m", str(self.memory_mb), "-u", "nobody"]


class Redis(_LoopbackDaemon):
    """Nothing saved to disk."""

    program = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--daemonize", "no"]


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
