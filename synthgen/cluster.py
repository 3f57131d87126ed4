"""Running beyond one process on dask.distributed: a local cluster or an existing one, and one way to
spread independent pieces of a run over it.

`synthgen run --workers N` starts a `LocalCluster` of N single-thread worker processes on 127.0.0.1,
`--cluster ADDRESS` joins a running scheduler. Inside a task that runs on a worker, `fan_out` submits
its pieces through `worker_client()`, which secedes the waiting task from the worker's thread pool:
a run that waits on its own metric tasks never holds the only thread those tasks need, so two
single-thread workers each running a spec cannot deadlock. Outside a worker (a plain run) `fan_out`
is a loop in this process, and every record says so (worker "local").

Torch threads on a worker are capped at cores / workers (`SYNTHGEN_MAX_THREADS`, read by
`training.seeding.torch_threads`), whatever a spec asks: N workers never oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from pydantic import BaseModel

from synthgen.errors import InputError

MAX_THREADS_ENV = "SYNTHGEN_MAX_THREADS"
LOCAL = "local"


def thread_cap() -> int | None:
    value = os.environ.get(MAX_THREADS_ENV)
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def worker_name() -> str:
    """The dask worker running this code, or "local" outside any worker."""
    if "distributed" not in sys.modules:  # a worker process has it loaded; a plain run need not pay its import
        return LOCAL
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return LOCAL
    return str(worker.name if worker.name is not None else worker.address)


def in_worker() -> bool:
    return worker_name() != LOCAL


def _tagged(fn: Callable, item: Any) -> tuple[Any, str]:
    return fn(item), worker_name()


def fan_out(fn: Callable[[Any], Any], items: Sequence[Any], *, name: str = "task",
            local: Callable[[list], list] | None = None) -> list[tuple[Any, str]]:
    """[(fn(item), worker that ran it)] in the order of `items`. On a worker the items become tasks the
    cluster spreads (the caller secedes while it waits; `fn` must be a module-level function, it is
    pickled to the workers, and builds what it needs from its item). Elsewhere they run here: through
    `local(items) -> results` when given (one call that shares what the caller already holds: a loaded
    model, a validation context), else one `fn` call after another."""
    if not in_worker() or len(items) < 2:
        if local is not None:
            here = worker_name()
            return [(result, here) for result in local(list(items))]
        return [_tagged(fn, item) for item in items]
    from distributed import worker_client

    with worker_client() as client:
        futures = [client.submit(_tagged, fn, item, key=f"{name}-{i}-{uuid.uuid4().hex[:8]}", pure=False)
                   for i, item in enumerate(items)]
        return client.gather(futures)


class RunOutcome(BaseModel):
    """How one spec's run ended, as data: flows and cluster tasks return it, so a refusal on one worker
    never looks like a crash, and the CLI prints it without guessing."""

    spec: str
    status: Literal["published", "unchanged", "refused", "bad input", "error"]
    exit_code: int
    final: str | None = None           # the published version (unchanged: the latest one)
    message: str | None = None
    worker: str = LOCAL


def outcome(call: Callable[..., Any], spec: str, *args: Any, **kwargs: Any) -> RunOutcome:
    """`call(spec, ...)` (a whole run, returning the published folder) as a `RunOutcome`."""
    from synthgen.errors import SynthgenError, Unchanged

    try:
        final = call(spec, *args, **kwargs)
    except Unchanged as exc:
        return RunOutcome(spec=str(spec), status="unchanged", exit_code=0, final=exc.latest, message=str(exc),
                          worker=worker_name())
    except SynthgenError as exc:
        status = {2: "bad input", 3: "refused"}.get(exc.exit_code, "error")
        return RunOutcome(spec=str(spec), status=status, exit_code=exc.exit_code, message=str(exc),
                          worker=worker_name())
    return RunOutcome(spec=str(spec), status="published", exit_code=0, final=str(final), worker=worker_name())


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def security_for(address: str, *, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 insecure: bool = False):
    """The dask `Security` to reach the scheduler at `address` with, or None for plain TCP on this machine.

    dask moves pickles between the client, the scheduler and the workers: whoever can talk to an
    unencrypted scheduler can run code on the workers, beside the real data. So a `tls://` scheduler is
    joined with mutual TLS (CA, certificate and key from --tls-ca/--tls-cert/--tls-key, or from dask's
    config `distributed.comm.tls.*`), and a plain `tcp://` scheduler on another host is refused unless
    `insecure` is given (a network the team trusts)."""
    from urllib.parse import urlsplit

    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    given = [v for v in (ca, cert, key) if v]
    if scheme == "tls":
        from distributed.security import Security

        if given and len(given) < 3:
            raise InputError(f"--cluster {address}: TLS needs all of --tls-ca, --tls-cert and --tls-key")
        for option, path in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key)):
            if path and not Path(path).is_file():
                raise InputError(f"{option} {path}: no such file")
        security = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True) \
            if given else Security(require_encryption=True)
        if not security.tls_ca_file or not security.tls_client_cert:
            raise InputError(f"--cluster {address}: a tls:// scheduler needs --tls-ca, --tls-cert and --tls-key (or "
                             "dask's config distributed.comm.tls.ca-file / client.cert / client.key)")
        return security
    if given:
        raise InputError(f"--cluster {address}: --tls-* options need a tls:// scheduler address")
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    if host not in LOOPBACK_HOSTS and not host.startswith("127.") and not insecure:
        raise InputError(f"--cluster {address}: a plain {scheme}:// scheduler on another host is refused: dask moves "
                         "pickles between client, scheduler and workers, so anyone who can reach that scheduler can "
                         "run code beside the real data. Use a tls:// scheduler (--tls-ca, --tls-cert, --tls-key), or "
                         "pass --insecure on a network you trust")
    return None


@contextlib.contextmanager
def cluster(workers: int | None = None, address: str | None = None, security=None) -> Iterator[Any]:
    """A dask `Client`: on a new LocalCluster of `workers` single-thread processes on 127.0.0.1, or on
    the scheduler at `address` (with `security`, see `security_for`). Yields None when neither is given
    (today's single-process run)."""
    if not workers and not address:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of synthgen
        raise InputError(f"--workers/--cluster need dask.distributed: {exc}") from exc
    if address:
        try:
            client = Client(address, timeout="5s", security=security)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--cluster {address}: no dask scheduler answered there ({str(exc)[:200]})") from exc
        with client:
            yield client
        return
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {MAX_THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=env, silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def _probe(folder: str, name: str) -> str:
    path = Path(folder) / name
    path.write_text(worker_name())
    return str(path)


def check_shared(client, folders: dict[str, Path]) -> None:
    """Every folder must be storage the workers and this process share: a worker writes a probe file
    that this process reads back; else exit 2 naming the folder."""
    for what, folder in folders.items():
        folder = Path(folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        name = f".synthgen-probe-{uuid.uuid4().hex[:12]}"
        try:
            client.submit(_probe, str(folder), name, pure=False).result(timeout=60)
            ok = (folder / name).is_file()
        except Exception as exc:  # noqa: BLE001 - any failure on the worker means "not shared"
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "a file a worker wrote there is not visible here"
        finally:
            (folder / name).unlink(missing_ok=True)
        if not ok:
            raise InputError(f"{folder}: the {what} must be on storage every dask worker shares ({why}); "
                             "use a shared file system path, or run without --cluster")
