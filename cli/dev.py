"""``aftersales dev``: the whole system on one machine, as child processes.

    Temporal dev server (SQLite file, UI)  ->  provider sandbox  ->  worker  ->  HTTP API

Everything lives in one data folder (default ``.data/``): the Temporal database, the sandbox's
state, a file of demo tokens and one log file per process. Restarting keeps every case. Ctrl-C
or SIGTERM stops the children in reverse order (interrupt, wait, then kill stragglers).

Also here: the single-process commands ``worker``, ``api``, ``sandbox`` and ``demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from aftersales_client import ApiError
from domain.policy import PolicyError, load_policy
from notices.readers import ReadersError, load_readers
from runtime.settings import Settings
from runtime.temporal import connect, dev_server_args, register_search_attributes, temporal_cli_path
from workflows import search_attributes

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_POLICY = PROJECT_ROOT / "demo" / "policy.toml"
HOST = "127.0.0.1"

#: The principals of the demo tokens file (API.md: token -> {role, id, shop_id?}).
DEMO_PRINCIPALS: list[dict[str, str]] = [
    {"role": "system", "id": "shop-backend"},
    {"role": "buyer", "id": "buyer-1"},
    {"role": "buyer", "id": "buyer-2"},
    {"role": "staff", "id": "alice", "shop_id": "shop-1"},
    {"role": "supervisor", "id": "sam", "shop_id": "shop-1"},
    {"role": "staff", "id": "mallory", "shop_id": "shop-2"},
    {"role": "platform", "id": "arbiter"},
    {"role": "operator", "id": "oncall"},
]


def aftersales_command() -> str:
    """How to type ``aftersales`` from here: it lives next to this Python (``.venv/bin/``), which
    is not on PATH until the environment is activated."""
    script = Path(sys.executable).parent / "aftersales"
    if not script.exists():
        return f"{sys.executable} -m cli"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def worker_names(count: int) -> list[str]:
    """The worker children's names (and log files): ``worker``, then ``worker-2``, ``worker-3`` ..."""
    return ["worker", *(f"worker-{n}" for n in range(2, count + 1))]


class StackError(Exception):
    """The stack could not start (busy port, a process that died, a service that never answered)."""


class PortTaken(StackError):
    """A process of the stack could not bind its port: something else took it."""


def write_demo_tokens(path: Path) -> dict[str, dict[str, str]]:
    """Create the tokens file with one random token per demo principal; an existing file is kept
    (so tokens stay valid across restarts) and completed with any principal it lacks."""
    tokens: dict[str, dict[str, str]] = {}
    if path.exists():
        tokens = json.loads(path.read_text(encoding="utf-8"))
    have = {(p.get("role"), p.get("id")) for p in tokens.values()}
    for principal in DEMO_PRINCIPALS:
        if (principal["role"], principal["id"]) not in have:
            tokens[f"{principal['id']}-{secrets.token_urlsafe(12)}"] = dict(principal)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return tokens


def token_for(tokens: dict[str, dict[str, str]], principal_id: str, role: str | None = None) -> str:
    """The token of the principal with this id (and role, when given)."""
    for token, principal in tokens.items():
        if principal.get("id") == principal_id and (role is None or principal.get("role") == role):
            return token
    raise KeyError(f"no token for {role or ''} {principal_id}".replace("  ", " "))


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Interrupts reach the child even if ours were ignored (a shell's background job); on Linux
    the child also gets SIGTERM if the dev process dies without cleaning up (e.g. SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.argv)}\n".encode())
        self.log.flush()
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            preexec_fn=_child_setup if os.name == "posix" else None,
        )

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)  # the child leads its own group

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class DevStack:
    """The four processes, their ports and their data folder."""

    data_dir: Path
    policy: Path | None = None
    shops: Path | None = None  # who reads notices in which language (AFTERSALES_SHOPS); None: zh-CN for all
    temporal_port: int = 7233
    ui_port: int = 8233
    api_port: int = 8000
    sandbox_port: int = 8700
    startup_timeout: float = 60.0
    say: Callable[[str], None] = print
    #: The dev server's SQLite pragmas (WAL and synchronous=normal: see docs/capacity.md).
    sqlite_pragmas: Sequence[str] = ("journal_mode=wal", "synchronous=normal")
    #: The dev server's dynamic configuration, as ``KEY=JSON_VALUE`` (``--dynamic-config-value``), on
    #: top of ``runtime.temporal.DEV_SERVER_DYNAMIC_CONFIG`` (a key given here replaces its value there).
    dynamic_config: Sequence[str] = ()
    #: Keep the sandbox's state in a file (the dev stack); benchmarks keep it in memory only.
    sandbox_state_file: bool = True
    #: The worker's command after ``python -m`` (benchmarks add their baseline workflows to it).
    worker_module: str = "worker"
    #: Extra environment for the children (e.g. worker tuning for a benchmark).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Worker processes. Each runs one Python interpreter, so one uses at most one core; they
    #: share the task queue and Temporal spreads the cases over them.
    workers: int = 1
    #: Each worker serves its Temporal SDK metrics on a free port (``aftersales dev`` turns it on;
    #: the benchmarks leave it off). The ports chosen, in worker order, are in the banner.
    worker_metrics: bool = False
    worker_metrics_ports: list[int] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.sandbox_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.ui_port}"

    @property
    def tokens_path(self) -> Path:
        return self.data_dir / "tokens.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def env(self) -> dict[str, str]:
        """The children's environment: the settings of API.md pointing at this stack."""
        env = dict(os.environ)
        secret = env.get("COURIER_WEBHOOK_SECRET") or Settings().courier_webhook_secret
        env.update(
            {
                "TEMPORAL_ADDRESS": self.temporal_address,
                "TEMPORAL_NAMESPACE": env.get("TEMPORAL_NAMESPACE", "default"),
                "AFTERSALES_TOKENS": str(self.tokens_path),
                "PAYMENT_URL": f"{self.sandbox_url}/payments",
                "COURIER_URL": f"{self.sandbox_url}/courier",
                "NOTIFY_URL": f"{self.sandbox_url}/notify",
                "COURIER_WEBHOOK_SECRET": secret,
                "AFTERSALES_EVENTS_DSN": env.get("AFTERSALES_EVENTS_DSN") or f"sqlite:///{(self.data_dir / 'events.sqlite3').resolve()}",
                "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        if self.policy is not None:
            env["AFTERSALES_POLICY"] = str(self.policy)
        else:
            env.pop("AFTERSALES_POLICY", None)
        if self.shops is not None:
            env["AFTERSALES_SHOPS"] = str(self.shops)
        else:
            env.pop("AFTERSALES_SHOPS", None)
        return env

    # ------------------------------------------------------------------------------ starting

    def start(self) -> None:
        """Start everything and wait until each part answers; raise :class:`StackError` if not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self._check_ports_free()
        write_demo_tokens(self.tokens_path)
        env = self.env()
        python = sys.executable
        temporal = Child(
            "temporal",
            [
                temporal_cli_path(),
                "server",
                "start-dev",
                "--db-filename",
                str(self.data_dir / "temporal.db"),
                "--ip",
                HOST,
                "--port",
                str(self.temporal_port),
                "--ui-port",
                str(self.ui_port),
                *(arg for pragma in self.sqlite_pragmas for arg in ("--sqlite-pragma", pragma)),
                *dev_server_args(self.dynamic_config),
                "--log-level",
                "warn",
            ],
            self.log_dir / "temporal.log",
        )
        sandbox = Child(
            "sandbox",
            [
                python,
                "-m",
                "sandbox",
                "--host",
                HOST,
                "--port",
                str(self.sandbox_port),
                "--webhook-url",
                f"{self.api_url}/v1/courier/events",
                "--webhook-secret",
                env["COURIER_WEBHOOK_SECRET"],
                *(["--state-file", str(self.data_dir / "sandbox.db")] if self.sandbox_state_file else []),
                "--log-level",
                "warning",
            ],
            self.log_dir / "sandbox.log",
        )
        workers = [
            Child(name, [python, "-m", self.worker_module], self.log_dir / f"{name}.log")
            for name in worker_names(self.workers)
        ]
        api = Child(
            "api", [python, "-m", "http_api", "--host", HOST, "--port", str(self.api_port)], self.log_dir / "api.log"
        )

        self._launch(temporal, env)
        self.say(f"  temporal  starting on {self.temporal_address} (first start takes a few seconds)")
        self._wait(temporal, lambda: asyncio.run(_temporal_answers(self.temporal_address)))
        self._launch(sandbox, env)
        self.worker_metrics_ports = free_ports(len(workers)) if self.worker_metrics else []
        for number, worker in enumerate(workers):
            metrics = {"AFTERSALES_WORKER_METRICS": f"{HOST}:{self.worker_metrics_ports[number]}"} if self.worker_metrics else {}
            self._launch(worker, {**env, **metrics})
        self._launch(api, env)
        self._wait(sandbox, lambda: _http_answers(f"{self.sandbox_url}/healthz"))
        self._wait(api, lambda: _http_answers(f"{self.api_url}/readyz"))
        time.sleep(0.5)
        for child in (sandbox, *workers, api):
            self._check_alive(child)

    def _launch(self, child: Child, env: dict[str, str]) -> None:
        child.start(env)
        self.children.append(child)

    def _check_ports_free(self) -> None:
        for name, port in (
            ("temporal", self.temporal_port),
            ("temporal UI", self.ui_port),
            ("API", self.api_port),
            ("sandbox", self.sandbox_port),
        ):
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) == 0:
                    raise PortTaken(
                        f"port {port} ({name}) is already in use: is another `aftersales dev` "
                        f"running? Stop it, or choose other ports (see --help)"
                    )

    def _check_alive(self, child: Child) -> None:
        code = child.exited()
        if code is not None:
            tail = child.tail()
            error = PortTaken if "address already in use" in tail else StackError
            raise error(f"{child.name} exited with code {code} (log {child.log_path}):\n{tail}")

    def _wait(self, child: Child, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive(child)
            if probe():
                return
            time.sleep(0.3)
        raise StackError(
            f"{child.name} did not answer within {self.startup_timeout:.0f}s (log {child.log_path}):\n{child.tail()}"
        )

    def failed_child(self) -> Child | None:
        return next((c for c in self.children if c.exited() is not None), None)

    # ------------------------------------------------------------------------------ stopping

    def stop(self, grace: float = 10.0) -> None:
        """Interrupt the processes (API first, Temporal last), wait, and kill what is left."""
        apps = [c for c in reversed(self.children) if c.name != "temporal"]
        temporal = [c for c in self.children if c.name == "temporal"]
        for group in (apps, temporal):
            for child in group:
                child.signal(signal.SIGINT)
            self._reap(group, grace)
        for child in self.children:
            if child.log is not None:
                child.log.close()

    def _reap(self, group: list[Child], grace: float) -> None:
        deadline = time.monotonic() + grace
        for child in group:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                continue
            except subprocess.TimeoutExpired:
                self.say(f"  {child.name} did not stop within {grace:.0f}s; terminating it")
            child.signal(signal.SIGTERM)
            try:
                child.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.say(f"  {child.name} ignored SIGTERM; killing it")
                child.signal(signal.SIGKILL)
                child.process.wait()

    def banner(self) -> str:
        policy = load_policy(self.policy)
        source = str(self.policy) if self.policy else "built-in defaults (DOMAIN.md)"
        lines = [
            f"aftersales dev stack is up (data in {self.data_dir})",
            f"  Temporal UI   {self.ui_url}",
            f"  Temporal      {self.temporal_address}",
            f"  API           {self.api_url}   docs {self.api_url}/docs",
            f"  workbench     {self.api_url}/workbench   (sign in with a staff, supervisor or platform token"
            " from the tokens file)",
            f"  sandbox       {self.sandbox_url}   ledger {self.sandbox_url}/payments/ledger"
            f"   inbox {self.sandbox_url}/notify/messages",
            f"  metrics       {self.api_url}/metrics"
            + "".join(f"   {name} http://{HOST}:{port}/metrics"
                      for name, port in zip(worker_names(self.workers), self.worker_metrics_ports, strict=False)),
            f"  tokens        {self.tokens_path}",
            f"  policy        {source} (version {policy.version})",
            f"  notices       {self.shops or 'everyone in zh-CN, Asia/Shanghai time'} (--shops)",
            f"  logs          {self.log_dir}/{{temporal,sandbox,{','.join(worker_names(self.workers))},api}}.log",
        ]
        hints = []
        if self.api_port != 8000:
            hints.append(f"export AFTERSALES_API_URL={self.api_url}")
        if self.tokens_path.resolve() != Path(".data/tokens.json").resolve():
            hints.append(f"export AFTERSALES_TOKENS={self.tokens_path}")
        lines += [f"  try           {h}" for h in hints]
        lines.append(f"  try           {aftersales_command()} --as alice list")
        lines.append("Ctrl-C stops everything; cases survive a restart.")
        return "\n".join(lines)


async def _temporal_answers(address: str) -> bool:
    """Whether the server answers and every case search attribute can be queried. The server only
    registers ``--search-attribute`` in a new database, so attributes added to the code since the
    data folder was made are registered here; with the server's caches on they apply within
    about 10 s, and until then a query naming them fails."""
    try:
        client = await asyncio.wait_for(connect(address), timeout=3)
        await register_search_attributes(client)
        await client.count_workflows(" OR ".join(f"{key.name} IS NULL" for key in search_attributes.ALL))
        return True
    except Exception:  # noqa: BLE001 - not up yet, whatever the reason
        return False


def _http_answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# ------------------------------------------------------------------------------------------
# The commands


def add_dev_command(sub: Any) -> None:
    p = sub.add_parser(
        "dev",
        help="run Temporal, the sandbox, the worker and the API together",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", default=".data", help="where everything is kept (default %(default)s)")
    p.add_argument(
        "--policy",
        help="policy file (default: AFTERSALES_POLICY, with --demo demo/policy.toml, else the DOMAIN.md defaults)",
    )
    p.add_argument(
        "--shops",
        help="shops file: each shop's language and time zone for notices (default: AFTERSALES_SHOPS, "
        "else zh-CN for everyone; see shops.example.toml)",
    )
    p.add_argument("--demo", action="store_true", help="run the demo once the stack is up")
    p.add_argument("--temporal-port", type=int, default=7233)
    p.add_argument("--ui-port", type=int, default=8233)
    p.add_argument("--api-port", type=int, default=8000)
    p.add_argument("--sandbox-port", type=int, default=8700)
    p.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for each part")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes (one Python process uses at most one core; default %(default)s)",
    )


def add_demo_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="play realistic cases against a running stack")
    p.add_argument("--sandbox-url", default=os.environ.get("AFTERSALES_SANDBOX_URL", "http://127.0.0.1:8700"))
    p.add_argument("--timeout", type=float, default=420.0, help="seconds to wait for every case to end")


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value}")
    return value


def _policy_for(args: argparse.Namespace) -> Path | None:
    chosen = args.policy or Settings().policy_path or (str(DEMO_POLICY) if args.demo else None)
    if not chosen:
        return None
    path = Path(chosen).resolve()
    load_policy(path)  # a bad file fails here, with its message, before anything starts
    return path


def _shops_for(args: argparse.Namespace) -> Path | None:
    chosen = args.shops or Settings().shops_path
    if not chosen:
        return None
    path = Path(chosen).resolve()
    load_readers(path)  # a bad file fails here, naming the field, before anything starts
    return path


def run_dev(args: argparse.Namespace) -> int:
    try:
        policy = _policy_for(args)
        shops = _shops_for(args)
    except (PolicyError, ReadersError) as err:
        print(f"aftersales dev: {err}", file=sys.stderr)
        return 2
    stack = DevStack(
        data_dir=Path(args.data_dir).resolve(),
        policy=policy,
        shops=shops,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        api_port=args.api_port,
        sandbox_port=args.sandbox_port,
        startup_timeout=args.startup_timeout,
        workers=args.workers,
        worker_metrics=True,
    )

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell starting us in the background would have us ignore Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    code = 0
    try:
        print("starting the aftersales dev stack ...", flush=True)
        stack.start()
        print(stack.banner(), flush=True)
        if args.demo:
            from demo.run import run_demo

            try:
                run_demo(stack.api_url, stack.sandbox_url, stack.tokens_path)
                print("demo finished; the stack keeps running (Ctrl-C stops it)", flush=True)
            except (httpx.HTTPError, ApiError) as err:
                print(f"aftersales dev: the demo stopped: {err}; the stack keeps running", file=sys.stderr)
        while (failed := stack.failed_child()) is None:
            time.sleep(0.5)
        print(
            f"aftersales dev: {failed.name} exited with code {failed.exited()} (log {failed.log_path}):\n"
            f"{failed.tail()}",
            file=sys.stderr,
        )
        code = 1
    except KeyboardInterrupt:
        pass
    except StackError as err:
        print(f"aftersales dev: {err}", file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short; stragglers are killed after the grace period.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return code


def free_ports(count: int) -> list[int]:
    """``count`` distinct local ports free right now (for stacks started beside another one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_on_free_ports(make: Callable[[list[int]], DevStack], attempts: int = 3) -> DevStack:
    """Start the stack ``make`` builds on four ports (Temporal, UI, API, sandbox) that were free a
    moment ago. Another process can take one between the check and the bind, so a stack whose
    process found its port taken is stopped and started again on fresh ports, up to ``attempts``
    times; any other failure is raised at once."""
    for attempt in range(1, attempts + 1):
        stack = make(free_ports(4))
        try:
            stack.start()
            return stack
        except PortTaken:
            stack.stop(grace=5.0)
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def run_api(host: str, port: int) -> int:
    from http_api.__main__ import main as api_main

    api_main(["--host", host, "--port", str(port)])
    return 0


def run_process_command(args: argparse.Namespace) -> int:
    """worker, api, sandbox, dev and demo."""
    if args.command == "worker":
        import worker

        worker.main()
        return 0
    if args.command == "api":
        return run_api(args.host, args.port)
    if args.command == "sandbox":
        from sandbox.__main__ import main as sandbox_main

        sandbox_main(_strip_separator(args.sandbox_args))
        return 0
    if args.command == "dev":
        return run_dev(args)
    from demo.run import run_demo

    return run_demo(args.api_url, args.sandbox_url, Path(args.tokens_file), timeout=args.timeout)


def _strip_separator(argv: Sequence[str]) -> list[str]:
    return list(argv[1:]) if argv and argv[0] == "--" else list(argv)
