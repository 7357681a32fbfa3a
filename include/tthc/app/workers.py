"""`tthc serve --workers N` on Linux: N uvicorn processes, each with its own listening socket on the
same host:port (SO_REUSEPORT), so the kernel spreads new connections over the workers. uvicorn's
own supervisor shares one socket, and a burst of connections lands on whichever worker wakes first
(32 of 32 on one worker, measured: BENCHMARKS.md); with keep-alive clients that split lasts.

The supervisor forwards SIGINT/SIGTERM to the workers as SIGTERM (uvicorn's graceful shutdown) and
waits for them. A worker that exits on its own (a crash, a port it could not bind) is not restarted:
the supervisor stops the others and exits with status 1, so that a service manager (systemd,
Docker's restart policy) restarts the whole server with one consistent configuration.

A worker: `python -m tthc.app.workers HOST PORT PARENT_PID` (the environment carries the shared
secret and the database login). It dies with the supervisor even on `kill -9` (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger("tthc.serve")

APP = "tthc.app.main:create_app"
STOP_TIMEOUT_S = 30.0


def reuseport_available() -> bool:
    """Linux spreads connections over SO_REUSEPORT listeners; other systems (BSD, macOS) have the
    option but give every connection to one socket, and Windows lacks it."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that something already listens on: without this check the workers would join
    another SO_REUSEPORT group of the same user (an older `tthc serve`) and share its connections."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # ignore connections in TIME_WAIT
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)   # uvicorn's default backlog
    return sock


def supervise(host: str, port: int, workers: int) -> int:
    """Run `workers` worker processes until SIGINT/SIGTERM (returns 0) or until one of them exits on
    its own (the others are stopped; returns 1)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    check_port_free(host, port)
    stop: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: stop.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop.append(signum))
    procs = [subprocess.Popen([sys.executable, "-m", "tthc.app.workers", host, str(port), str(os.getpid())])
             for _ in range(workers)]
    log.info("Supervisor [%d]: %d workers %s, each listening on %s:%d (SO_REUSEPORT)", os.getpid(), workers,
             [p.pid for p in procs], host, port)
    failed = None
    while not stop and failed is None:
        time.sleep(0.2)
        failed = next((p for p in procs if p.poll() is not None), None)
    if failed is not None and not stop:   # (a Ctrl-C may stop a worker before this process sees it)
        log.error("Worker [%d] exited with status %s; stopping the others", failed.pid, failed.returncode)
    _stop(procs)
    return 1 if failed is not None and not stop else 0


def _stop(procs: list[subprocess.Popen]) -> None:
    # A Ctrl-C reached the workers already (the terminal signals the whole process group); SIGTERM
    # after it is no second SIGINT, which uvicorn takes as "exit without waiting for requests".
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("Worker [%d] still running after %.0f s; killing it", p.pid, STOP_TIMEOUT_S)
            p.kill()
            p.wait()


def run_worker(host: str, port: int, parent_pid: int) -> None:
    import uvicorn

    from tthc.processes import die_with_parent

    die_with_parent(parent_pid, signal.SIGTERM)
    sock = listen(host, port)
    uvicorn.Server(uvicorn.Config(APP, factory=True, log_level="info")).run(sockets=[sock])


if __name__ == "__main__":
    run_worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
