"""``spine bench drive [--requests N] [--connections C]``: requests/s that the harness's ``GateClient`` sends to a
trivial HTTP sink, against a bare keep-alive ``http.client`` loop sending the same bodies to the same sink.

The sink is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 in a subprocess (so it does not share the client's
GIL) that answers every POST 200 ``{"outcome":"ADMIT","receipt_seq":1}``, keep-alive, Nagle off. GateClient
sends the envelopes as mappings, as a run does (it encodes and hashes them) and records every send (invoke, then
ok/fail/info) into an in-memory ``History``; the baseline sends the same bodies, already encoded, and only reads
the answers. With ``--connections C`` > 1 both sides also run with C threads, each with its own connection.
Each side runs ``--rounds`` times, alternating; the best round of each is reported.

Figures: ``gateclient_requests_per_second``, ``baseline_requests_per_second`` and ``ratio`` (ours / baseline)
with one connection; the same prefixed ``cC_`` with C connections.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

KIND = "drive"
HELP = "Requests/s of the harness's GateClient (recording into a History) vs a bare http.client loop"
INGEST_PATH = "/v1/ingest"
HEADER = "X-Spine-Bench-Key"
KEY = "bench-key"
ANSWER = b'{"outcome":"ADMIT","receipt_seq":1}'
SINK_START_TIMEOUT_S = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=5000, help="Requests each side sends per round")
    parser.add_argument("--connections", type=int, default=4,
                        help="Also measure with C threads, each with its own connection, when C > 1 (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds per side, alternating; the best is kept")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the envelopes")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError

    if args.requests < 1 or args.connections < 1 or args.rounds < 1:
        raise ConfigError("spine bench drive --requests, --connections and --rounds must be positive counts, "
                          f"given: {args.requests}, {args.connections}, {args.rounds}")
    envelopes = _envelopes(args.requests, args.seed)
    figures: dict[str, Any] = {"requests": args.requests}
    with _Sink() as port:
        for connections in sorted({1, args.connections}):
            prefix = "" if connections == 1 else f"c{connections}_"
            ours, theirs, operations = _measure(port, envelopes, connections, args.rounds)
            figures[f"{prefix}gateclient_requests_per_second"] = round(ours, 1)
            figures[f"{prefix}baseline_requests_per_second"] = round(theirs, 1)
            figures[f"{prefix}ratio"] = round(ours / theirs, 3)
            figures[f"{prefix}history_operations"] = operations
    return figures


def summary(figures: Mapping[str, Any]) -> list[str]:
    lines = []
    for name in figures:
        if name.endswith("gateclient_requests_per_second"):
            prefix = name[: -len("gateclient_requests_per_second")]
            connections = int(prefix[1:-1]) if prefix else 1
            lines.append(f"drive: {figures[name]:.0f} requests/s (GateClient, {connections} connection"
                         f"{'s' if connections > 1 else ''}) vs {figures[prefix + 'baseline_requests_per_second']:.0f}"
                         f" requests/s (bare http.client): {figures[prefix + 'ratio']:.2f}x")
    return lines


# ---------------------------------------------------------------------------------------------------- workload
def _envelopes(count: int, seed: int) -> list[dict[str, Any]]:
    from pytest_spine.clock import seeded_random
    from pytest_spine.drive.envelope import envelope

    rng = seeded_random(seed, "bench", "drive")
    run_id = f"platform_bench_drive_{seed}"
    return [envelope(run_id, "traffic_fraud", f"evt-{i:08d}",
                     {"flow_id": f"flow-{rng.randrange(1 << 30)}", "amount": i % 997, "merchant": "m-0001"},
                     "2026-01-01T00:00:00.000000Z") for i in range(count)]


def _slices(items: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    return [items[i::parts] for i in range(parts)]


def _measure(port: int, envelopes: list[dict[str, Any]], connections: int, rounds: int) -> tuple[float, float, int]:
    from pytest_spine.drive.envelope import canonical_bytes

    bodies = [canonical_bytes(e) for e in envelopes]
    best_ours = best_theirs = 0.0
    operations = 0
    for _ in range(rounds):
        best_theirs = max(best_theirs, len(bodies) / _bare_round(port, bodies, connections))
        elapsed, operations = _gateclient_round(port, envelopes, connections)
        best_ours = max(best_ours, len(envelopes) / elapsed)
    return best_ours, best_theirs, operations


def _timed(parts: list[Sequence[Any]], work: Callable[[Sequence[Any]], None]) -> float:
    """Seconds from the moment every thread is ready until the last one is done; re-raises a thread's error."""
    gc.collect()
    barrier = threading.Barrier(len(parts) + 1)
    errors: list[BaseException] = []

    def body(part: Sequence[Any]) -> None:
        barrier.wait()
        try:
            work(part)
        except BaseException as error:  # re-raised by the main thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(part,), daemon=True) for part in parts]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def _bare_round(port: int, bodies: list[bytes], connections: int) -> float:
    from pytest_spine.errors import EnvironmentFault

    headers = {"Content-Type": "application/json", HEADER: KEY}

    def work(part: Sequence[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)
        try:
            for body in part:
                conn.request("POST", INGEST_PATH, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise EnvironmentFault(f"the bench sink answered {response.status}")
        finally:
            conn.close()

    return _timed(_slices(bodies, connections), work)


def _gateclient_round(port: int, envelopes: list[dict[str, Any]], connections: int) -> tuple[float, int]:
    from pytest_spine.drive.gate_client import GateClient
    from pytest_spine.errors import EnvironmentFault
    from pytest_spine.history import History

    history = History()
    client = GateClient(f"http://127.0.0.1:{port}", HEADER, KEY, ingest_path=INGEST_PATH, timeout_s=10.0,
                        recorder=history, process="bench-drive")

    def work(part: Sequence[dict[str, Any]]) -> None:
        for document in part:
            answer = client.send(document)
            if answer.kind != "ok" or answer.outcome != "ADMIT":
                raise EnvironmentFault(f"GateClient got {answer.kind} ({answer.error or answer.status_code}) "
                                       "from the bench sink")

    try:
        elapsed = _timed(_slices(envelopes, connections), work)
    finally:
        client.close()
        history.close()
    return elapsed, len(history)


# ---------------------------------------------------------------------------------------------------- the sink
class _Sink:
    """The sink subprocess; ``with _Sink() as port`` starts it and stops it (only this process, by its pid)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> int:
        from pytest_spine.errors import EnvironmentFault

        code = "from pytest_spine.benchmarks.drive import serve_sink; serve_sink()"
        self._process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        port: list[int] = []
        reader = threading.Thread(target=self._read_port, args=(port,), daemon=True)
        reader.start()
        reader.join(SINK_START_TIMEOUT_S)
        if not port:
            try:
                exit_code: int | None = self._process.wait(1.0)
            except subprocess.TimeoutExpired:
                exit_code = None
            self.__exit__()
            why = (f"exited with code {exit_code} before listening" if exit_code is not None
                   else f"did not start within {SINK_START_TIMEOUT_S:g} s")
            raise EnvironmentFault(f"the bench HTTP sink {why}")
        return port[0]

    def _read_port(self, port: list[int]) -> None:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip().isdigit():
            port.append(int(line))

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the sink exits when its stdin closes
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
        if process.stdout is not None:
            process.stdout.close()


def serve_sink() -> None:
    """The sink's main (run in the subprocess): prints its port, serves until its stdin closes."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.wfile.write(response)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # EOF: the bench is done (or gone)
    server.shutdown()
    server.server_close()
