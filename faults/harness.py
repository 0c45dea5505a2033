"""The fault-injection run: a private stack, scripted cases, faults and kills, then the checks.

    stack (cli.dev.DevStack on free ports, temp data dir, compressed policy)
      -> payment faults on (fail, slow, drop-after-record, refusals)
      -> the sandbox's event receiver subscribed to every event type (POST /v1/subscriptions),
         failing or answering too slowly for a share of deliveries during the chaos window
      -> open the cases, drive each through its script   }  meanwhile: SIGKILL the worker, the dev
      -> wait until every case is terminal (or timeout)   }  server, the API and the sandbox, each
                                                              restarted (on its database)
      -> check views and the sandbox ledger
      -> wait for the event deliveries to drain (bounded); compare the event store
         (GET /v1/events) with what the receiver acknowledged (faults.events); print the tables

Every wait polls; nothing relies on a fixed sleep for correctness. A call of the harness's own
that times out or finds nobody listening (API or sandbox) is an unknown outcome: the harness
reads the case again and decides from what it sees, never crashes. A share of orders carries two
or three cases opened at the same moment, racing for the order's quantity and its refund
ceiling; they are checked per order. A process that dies without being killed by the harness
is restarted and reported as a finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from casefeed import signing
from cli import render
from cli.dev import Child, DevStack, start_on_free_ports, token_for
from faults.events import EventsCheck, compare, report_lines
from faults.scripts import MULTI_QUANTITY, TERMINAL, Script, Step, make_scripts
from runtime.temporal import connect

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.toml"


@dataclass
class HarnessConfig:
    cases: int = 200
    seed: int = 1
    kills: int = 4
    #: SIGKILLs of the dev server, of the API and of the sandbox (each restarted).
    server_kills: int = 0
    api_kills: int = 0
    sandbox_kills: int = 0
    #: Share of the cases on orders of two or three cases.
    multi_share: float = 0.2
    #: Multiply the policy's deadlines and reminders by this (default: 1 up to 250 cases, then
    #: cases / 250): a larger run takes longer to act on each case, and a scripted step that
    #: comes after its deadline tests the harness's speed, not the pipeline.
    deadline_scale: float | None = None
    policy: Path = DEFAULT_POLICY
    fail_rate: float = 0.2
    #: Slow answers past the activity's 30 s start-to-close make it time out and retry (the retry
    #: finds the payout by key); each costs about 30 s, so only a small share.
    slow_rate: float = 0.05
    slow_seconds: float = 35.0
    drop_rate: float = 0.1
    drop_mode: str = "error"
    #: Seconds within which the kills happen (default: scaled to the number of cases).
    chaos_window: float | None = None
    #: Seconds to wait for every case to end (default: scaled to the number of cases).
    timeout: float | None = None
    data_dir: Path | None = None
    concurrency: int = 8
    #: Outbound events: subscribe the sandbox's receiver to every type and check delivery.
    events: bool = True
    #: During the chaos window, the receiver answers this share of deliveries with a 503, and
    #: holds this share past the dispatcher's 10 s request timeout before accepting them (the
    #: sender sees a timeout; its redelivery is a duplicate).
    receiver_fail_rate: float = 0.2
    receiver_slow_rate: float = 0.02
    receiver_slow_seconds: float = 12.0
    #: Seconds to wait for the deliveries to drain after every case ended (default: 120 + 0.5 per case).
    events_drain_timeout: float | None = None
    #: Print the event figures of every case, not only of those with a problem.
    events_every_case: bool = False
    say: Callable[[str], None] = print


@dataclass
class CaseResult:
    case_id: str
    kind: str
    expected_state: str
    expected_refund: int
    expected_reimbursement: int
    state: str | None = None
    refund: int | None = None
    reimbursement: int | None = None
    payouts: int = 0
    paid: int = 0
    ledger_refund: int = 0
    ledger_reimbursement: int = 0
    problems: list[str] = field(default_factory=list)
    #: The HTTP status of the last failed look at the end, when the view was no longer readable.
    unreadable: int | None = None
    #: False for a case of a multi-case order that lost the race at opening.
    opened: bool = True
    #: The order of a multi-case order (its cases' expected amounts are the order's).
    group: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class HarnessResult:
    cases: list[CaseResult]
    payouts: int
    duplicates: int
    losses: int
    over_refunds: int
    wrong_outcomes: int
    #: Cases whose view the API could not serve at the end (e.g. a query failing on replay).
    unreadable_views: int
    #: Workflow runs the worker logged a nondeterminism error for (task or query replay).
    nondeterministic_runs: int
    worker_kills: int
    server_kills: int
    fault_counters: dict[str, int]
    findings: list[str]
    elapsed: float
    api_kills: int = 0
    sandbox_kills: int = 0
    multi: MultiSummary | None = None
    #: API answers of 5xx, by status (every call the harness made, reads included).
    api_5xx: dict[int, int] = field(default_factory=dict)
    #: Calls that got no answer (timeout, connection refused or cut), by target: api, sandbox.
    unanswered: dict[str, int] = field(default_factory=dict)
    #: Seconds from the start to the end of the last fault (its process answering again).
    last_fault_at: float | None = None
    #: Seconds from the end of the last fault until every case had ended (0: ended before it).
    drain_seconds: float | None = None
    #: The outbound-event check (None when the run had events off).
    events: EventsCheck | None = None
    #: Case reference -> script kind, for the event figures by kind.
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.money_ok
            and self.unreadable_views == 0
            and self.nondeterministic_runs == 0
            and self.api_5xx.get(500, 0) == 0  # a 500 is a bug, never the answer to a fault
            and (self.events is None or self.events.ok)
        )

    @property
    def money_ok(self) -> bool:
        """Every case ended as scripted, none lost, every refund paid once, no order over-refunded."""
        return self.duplicates == 0 and self.losses == 0 and self.over_refunds == 0 and self.wrong_outcomes == 0

    @property
    def by_outcome(self) -> dict[str, int]:
        return dict(Counter(c.state or "missing" for c in self.cases))


@dataclass
class MultiSummary:
    """The multi-case orders: the race for quantity and refund, checked per order."""

    orders: int
    cases: int
    opened: int
    refused_at_open: int
    #: Orders where more cases were paid than the order has units (a unit claimed twice).
    quantity_claimed_twice: int
    #: Orders whose payouts' refunds add up to exactly what was paid.
    paid_exactly: int
    problems: list[str] = field(default_factory=list)


class Harness:
    def __init__(self, config: HarnessConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.findings: list[str] = []
        self.worker_kills = 0
        self.server_kills = 0
        self.api_kills = 0
        self.sandbox_kills = 0
        self.api_5xx: Counter[int] = Counter()
        self.unanswered: Counter[str] = Counter()
        #: Case id -> the status that refused its opening (multi-case orders expect 422 for some).
        self.not_opened: dict[str, int] = {}
        #: Payment counters of sandbox runs that were killed (the sandbox counts from zero again).
        self.counters_before: Counter[str] = Counter()
        self.receiver_counters_before: Counter[str] = Counter()
        #: The receiver's faults are on until the end of the chaos window.
        self.receiver_faults_on = config.events and (config.receiver_fail_rate > 0 or config.receiver_slow_rate > 0)
        self.receiver_secret = signing.new_secret()
        self.subscription_id: str | None = None
        self.last_fault_end: float | None = None
        self.last_case_end: float | None = None
        #: Children the harness took down on purpose and has not restarted yet.
        self.down: set[str] = set()
        self.refused: set[str] = set()
        #: Cases whose view could not be read at the end (case id -> last HTTP status).
        self.unreadable: dict[str, int | None] = {}
        self.nondeterministic_runs: set[str] = set()
        self.refusals: Counter[int] = Counter()
        self.started = time.monotonic()
        self.stack: DevStack | None = None
        self.scale = 1.0

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.config.say(f"[faults +{elapsed:6.1f}s] {text}")

    # ------------------------------------------------------------------------------ the run

    def run(self) -> HarnessResult:
        with contextlib.ExitStack() as cleanup:
            data_dir = self.config.data_dir
            if data_dir is None:
                data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="aftersales-faults-")))
            scale = self.scale = self.config.deadline_scale or max(1.0, self.config.cases / 250)
            policy = self.config.policy.resolve()
            if scale != 1:
                data_dir.mkdir(parents=True, exist_ok=True)
                policy = scaled_policy(policy, scale, data_dir / "policy.toml")
                self.say(f"deadlines and reminders x {scale:g} ({policy})")

            def make(ports: list[int]) -> DevStack:
                temporal_port, ui_port, api_port, sandbox_port = ports
                self.say(f"starting the stack in {data_dir} (temporal {temporal_port}, api {api_port}, "
                         f"sandbox {sandbox_port})")
                self.stack = DevStack(
                    data_dir=data_dir,
                    policy=policy,
                    temporal_port=temporal_port,
                    ui_port=ui_port,
                    api_port=api_port,
                    sandbox_port=sandbox_port,
                    startup_timeout=120.0,
                    say=self.say,
                    # Every case and order ledger in flight stays in the worker's cache: a cache
                    # smaller than that replays a history per step and per look (README, "Running
                    # the worker"), which at 1,000 cases starves the stack.
                    extra_env={
                        "AFTERSALES_MAX_CACHED_WORKFLOWS": str(max(125, 2 * self.config.cases + 100)),
                        # A private event store, whatever the environment names: the event check
                        # compares everything in it with what the receiver got.
                        "AFTERSALES_EVENTS_DSN": f"sqlite:///{(data_dir / 'events.sqlite3').resolve()}",
                    },
                )
                return self.stack

            self.timeout = self.config.timeout or (600.0 + self.config.cases * 1.5) * scale
            try:
                stack = start_on_free_ports(make)
                self.say("stack up")
                return asyncio.run(self._run_async(stack))
            finally:
                if self.stack is not None:
                    self.stack.stop(grace=5.0)
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow

    async def _run_async(self, stack: DevStack) -> HarnessResult:
        import json

        tokens = json.loads(stack.tokens_path.read_text(encoding="utf-8"))
        self.tokens = {pid: token_for(tokens, pid) for pid in ("shop-backend", "alice", "sam", "buyer-1", "oncall")}
        run_id = f"{int(time.time()) % 100000:05d}{self.config.seed % 100:02d}"
        scripts = make_scripts(self.config.cases, self.config.seed, run_id, self.config.multi_share)
        self.refused = {s.case_id for s in scripts if s.refuse_payment}
        limits = httpx.Limits(max_connections=self.config.concurrency * 3)
        async with (
            httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as api,
            httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox,
        ):
            self.api, self.sandbox = api, sandbox
            self.read_gate = asyncio.Semaphore(self.config.concurrency)
            self.command_gate = asyncio.Semaphore(2 * self.config.concurrency)
            # Openings queue apart: a scripted step must not wait behind hundreds of openings.
            self.open_gate = asyncio.Semaphore(self.config.concurrency)
            await self._set_faults()
            if self.config.events:
                await self._subscribe_receiver(stack)
            deadline = time.monotonic() + self.timeout
            chaos = asyncio.create_task(self._chaos(stack, deadline))
            drivers = [asyncio.create_task(self._drive(s, deadline)) for s in scripts]
            views = dict(zip([s.case_id for s in scripts], await asyncio.gather(*drivers), strict=True))
            chaos.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chaos
            await self._ensure_up(stack)
            self.say("every case ended (or timed out); checking")
            # A final fresh look (the cases that never ended included); a case whose view cannot be
            # read any more keeps the last view its driver saw, and is counted as unreadable.
            finals = await asyncio.gather(*(self._final_view(s.ref) for s in scripts))
            for s, (status, view) in zip(scripts, finals, strict=True):
                if view is not None:
                    views[s.case_id] = view
                elif status == 404:
                    views[s.case_id] = None
                else:
                    self.unreadable[s.case_id] = status
            self._scan_worker_log(stack)
            ledger = await self._sandbox_json("GET", "/payments/ledger")
            counters = Counter((await self._sandbox_json("GET", "/payments/faults"))["counters"])
            events = await self._check_events() if self.config.events else None
        counters.update(self.counters_before)
        result = self._check(scripts, views, ledger, dict(counters))
        result.events = events
        result.kinds = {s.ref: s.kind for s in scripts}
        return result

    async def _sandbox_call(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """One sandbox call; ``None`` when it did not answer (killed, restarting, slow)."""
        try:
            return await self.sandbox.request(method, path, json=body)
        except httpx.HTTPError:
            self.unanswered["sandbox"] += 1
            return None

    async def _sandbox_json(self, method: str, path: str, body: Any = None) -> Any:
        """A sandbox call that must succeed: retried until it does (for up to two minutes)."""
        for _ in range(120):
            response = await self._sandbox_call(method, path, body)
            if response is not None and response.status_code == 200:
                return response.json()
            await asyncio.sleep(1)
        raise RuntimeError(f"the sandbox did not answer {method} {path} for two minutes")

    async def _set_faults(self) -> None:
        c = self.config
        body = {
            "seed": c.seed,
            "fail_rate": c.fail_rate,
            "slow_rate": c.slow_rate,
            "slow_seconds": c.slow_seconds,
            "drop_after_record_rate": c.drop_rate,
            "drop_mode": c.drop_mode,
            "refuse_case_ids": sorted(self.refused),
        }
        await self._sandbox_json("POST", "/payments/faults", body)
        self.say(
            f"payment faults on: fail {c.fail_rate}, slow {c.slow_rate} x {c.slow_seconds}s, "
            f"drop after record {c.drop_rate} ({c.drop_mode}), {len(self.refused)} refused cases"
        )
        if c.events:
            await self._set_receiver()

    async def _set_receiver(self) -> None:
        """The receiver verifies signatures with the subscription's secret; while its faults are
        on, it fails and delays a share of deliveries (run-time settings: set again after a kill)."""
        c = self.config
        body: dict[str, Any] = {"secret": self.receiver_secret}
        if self.receiver_faults_on:
            body |= {"fail_rate": c.receiver_fail_rate, "fail_status": 503, "slow_rate": c.receiver_slow_rate,
                     "slow_seconds": c.receiver_slow_seconds, "seed": c.seed}
        for _ in range(120):
            response = await self._sandbox_call("PUT", "/receiver/config", body)
            if response is not None and response.status_code == 200:
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError("the sandbox did not take the receiver's configuration for two minutes")
        if self.receiver_faults_on:
            self.say(f"receiver faults on: 503 for {c.receiver_fail_rate}, slow {c.receiver_slow_rate} x "
                     f"{c.receiver_slow_seconds}s")
        else:
            self.say("receiver faults off")

    async def _subscribe_receiver(self, stack: DevStack) -> None:
        """Subscribe the sandbox's receiver to every event type of every shop, as an integrator
        would: through the API, as an operator."""
        body = {"url": f"{stack.sandbox_url}/receiver/events", "secret": self.receiver_secret, "types": ["*"]}
        for _ in range(60):
            response = await self._call("POST", "/v1/subscriptions", "oncall", body)
            if response is not None and response.status_code == 201:
                self.subscription_id = str(response.json()["id"])
                self.say(f"receiver subscribed to every event ({self.subscription_id})")
                return
            if response is not None and response.status_code < 500:
                raise RuntimeError(f"subscribing the receiver was refused: {response.status_code} {response.text}")
            await asyncio.sleep(1)
        raise RuntimeError("the API did not take the receiver's subscription for a minute")

    async def _api_json(self, path: str) -> Any:
        """An API read (as an operator) that must succeed: retried for up to two minutes."""
        for _ in range(120):
            response = await self._call("GET", path, "oncall")
            if response is not None and response.status_code == 200:
                return response.json()
            await asyncio.sleep(1)
        raise RuntimeError(f"the API did not answer GET {path} for two minutes")

    async def _stored_events(self) -> list[dict[str, Any]]:
        """Every event in the store, oldest first (``GET /v1/events``, page by page)."""
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self._api_json(f"/v1/events?after={after}&limit=1000")
            events += [item["event"] for item in page["items"]]
            if not page["items"]:
                return events
            after = page["next_after"]

    async def _check_events(self) -> EventsCheck:
        """Wait (bounded) until no delivery is pending and the store has stopped growing, then
        compare the store with the receiver's acknowledged events."""
        if self.receiver_faults_on:  # a run shorter than the chaos window
            self.receiver_faults_on = False
            await self._set_receiver()
        bound = self.config.events_drain_timeout or 120.0 + 0.5 * self.config.cases
        began = time.monotonic()
        drained, last_cursor, stable = False, -1, 0
        while time.monotonic() - began < bound:
            pending = await self._api_json("/v1/deliveries?state=pending&limit=1")
            cursor = await self._newest_cursor(last_cursor)
            stable = stable + 1 if (not pending and cursor == last_cursor) else 0
            last_cursor = cursor
            if stable >= 2:
                drained = True
                break
            await asyncio.sleep(2)
        waited = time.monotonic() - began
        self.say(f"event deliveries {'drained' if drained else 'NOT drained'} after {waited:.0f}s")
        stored = await self._stored_events()
        answer = await self._sandbox_json("GET", "/receiver/received")
        faults = Counter(answer["counters"])
        faults.update(self.receiver_counters_before)
        failed = await self._api_json("/v1/deliveries?state=failed&limit=1000")
        check = EventsCheck(cases=compare(stored, answer["received"]), drained=drained)
        check.notes = {
            "receiver 503s injected": faults["failures_injected"],
            "receiver slow answers injected": faults["slow_injected"],
            "deliveries given up (failed)": len(failed),
            "drain": f"{waited:.0f}s",
        }
        return check

    async def _newest_cursor(self, known: int) -> int:
        """The feed's newest cursor (reading on from the last one known)."""
        after = max(known, 0)
        while True:
            page = await self._api_json(f"/v1/events?after={after}&limit=1000")
            if not page["items"]:
                return after
            after = page["next_after"]

    # ------------------------------------------------------------------------------ driving cases

    async def _call(self, method: str, path: str, who: str, body: Any = None) -> httpx.Response | None:
        """One API call as ``who``; ``None`` when the stack did not answer (down, restarting, slow).
        Reads, openings and commands queue separately, so that neither polling nor the flood of
        openings holds a scripted action back past the deadline it must beat."""
        gate = self.read_gate if method == "GET" else self.open_gate if path == "/v1/cases" else self.command_gate
        async with gate:
            try:
                response = await self.api.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"}
                )
            except httpx.HTTPError:
                self.unanswered["api"] += 1
                return None
            if response.status_code >= 500:
                self.api_5xx[response.status_code] += 1
                if response.status_code == 500:
                    self.say(f"API 500 on {method} {path}: {response.text[:300]}")
            return response

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * (0.75 + self.rng.random() / 2))

    async def _drive(self, script: Script, deadline: float) -> dict[str, Any] | None:
        """Open the case, then play its steps as the case reaches each step's state; the last view."""
        # Spread the openings; the cases of one order open together, racing for its claims.
        await asyncio.sleep(script.open_at)
        view: dict[str, Any] | None = None
        while True:
            response = await self._call("POST", "/v1/cases", "shop-backend", script.request)
            if response is not None and response.status_code in (200, 201):
                body = response.json()
                view = body if isinstance(body, dict) and "state" in body else None
                break
            if response is not None and response.status_code < 500 and response.status_code != 404:
                self.not_opened[script.case_id] = response.status_code
                if script.group is None or response.status_code != 422:  # 422: lost the race for the order
                    self.say(f"{script.case_id} not opened: {response.status_code} {response.text[:300]}")
                return None
            if time.monotonic() > deadline:
                return None
            await self._pause(2)
        fresh = view is not None
        next_step = 0
        # Polling costs the worker a query each; with many cases, look less often (the deadlines
        # a scripted step must beat are 90 s and more).
        step_poll = 2 + self.config.cases / 250
        # Waiting for the case to move by itself: rarer still when the deadlines are longer (at
        # most 30 s, which bounds how late the drain time can see a case end).
        idle_poll = min(30.0, (6 + self.config.cases / 100) * max(1.0, self.scale / 2))
        while time.monotonic() < deadline:
            if not fresh:
                response = await self._call("GET", f"/v1/cases/{script.ref}", "oncall")
                if response is None or response.status_code != 200:
                    await self._pause(3)
                    continue
                view = response.json()
            fresh = False
            assert view is not None
            state = view.get("state")
            if state in TERMINAL:
                now = time.monotonic()
                self.last_case_end = max(self.last_case_end or now, now)
                return view
            # A command whose answer was lost may have gone through: skip to the step of this state.
            if next_step < len(script.steps) and script.steps[next_step].when != state:
                later = [j for j in range(next_step + 1, len(script.steps)) if script.steps[j].when == state]
                if later:
                    next_step = later[0]
            if next_step < len(script.steps) and script.steps[next_step].when == state:
                done, answer = await self._do(script, script.steps[next_step], view)
                if done:
                    next_step += 1
                    if answer is not None:
                        view, fresh = answer, True
                    continue
                await self._pause(1)
                continue
            # Nothing to do until the case moves by itself (a deadline, the payment, a scan).
            await self._pause(step_poll if next_step < len(script.steps) else idle_poll)
        return view

    async def _do(self, script: Script, step: Step, view: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Take one step: whether it was done, and the case's view if the answer carried it."""
        tracking = view.get("return_tracking") or script.tracking
        if step.actor == "courier":
            carrier = step.payload["carrier"]
            # Registering a known parcel and moving it to the status it has are harmless repeats,
            # so a call without an answer is simply made again after the next look.
            if step.action == "picked_up":
                r = await self._sandbox_call(
                    "POST", "/courier/parcels", {"carrier": carrier, "tracking_number": tracking}
                )
            else:
                r = await self._sandbox_call(
                    "POST", f"/courier/parcels/{carrier}/{tracking}/advance", {"status": step.action}
                )
            return r is not None and r.status_code in (200, 201, 409), None
        if step.actor == "harness":  # clear_refusal
            self.refused.discard(script.case_id)
            r = await self._sandbox_call("POST", "/payments/faults", {"refuse_case_ids": sorted(self.refused)})
            return r is not None and r.status_code == 200, None
        payload = dict(step.payload)
        if step.action == "submit_return_shipment":
            payload["tracking_number"] = script.tracking
        response = await self._call("POST", f"/v1/cases/{script.ref}/{step.action}", step.actor, payload)
        if response is None or response.status_code >= 500:
            return False, None  # look again: it may have gone through
        if response.status_code >= 400:
            # 409: the case moved meanwhile (the next look decides); anything else is the script's fault.
            self.refusals[response.status_code] += 1
            if response.status_code != 409 or self.refusals[409] <= 5:
                self.say(f"{script.case_id} {step.action} refused: {response.status_code} {response.text[:300]}")
            return False, None
        body = response.json()
        return True, body if isinstance(body, dict) and "state" in body else None

    async def _final_view(self, ref: str) -> tuple[int | None, dict[str, Any] | None]:
        """The status of the last look and the view (``None`` if there was none)."""
        status: int | None = None
        for _ in range(15):
            response = await self._call("GET", f"/v1/cases/{ref}", "oncall")
            status = None if response is None else response.status_code
            if response is not None and response.status_code == 200:
                return status, dict(response.json())
            if status == 404:
                return status, None
            await asyncio.sleep(2)
        return status, None

    # ------------------------------------------------------------------------------ chaos

    def _window(self) -> float:
        return self.config.chaos_window or min(300.0, 20.0 + self.config.cases * 0.3)

    def _schedule(self) -> list[tuple[float, str]]:
        """When each fault happens: seconds after the start, and which process it kills."""
        c, window = self.config, self._window()
        events = [(self.rng.uniform(5, window), "worker") for _ in range(c.kills)]
        # Server kills spread evenly, so that the server is not down twice in a row.
        events += [(window * (i + self.rng.uniform(0.3, 0.7)) / c.server_kills, "temporal") for i in range(c.server_kills)]
        events += [(self.rng.uniform(5, window), "api") for _ in range(c.api_kills)]
        events += [(self.rng.uniform(5, window), "sandbox") for _ in range(c.sandbox_kills)]
        return sorted(events)

    async def _chaos(self, stack: DevStack, deadline: float) -> None:
        """Kill the processes at their moments, one at a time; restart what dies on its own."""
        events = self._schedule()
        begin = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            await self._watchdog(stack)
            if self.receiver_faults_on and time.monotonic() - begin >= self._window():
                self.receiver_faults_on = False
                await self._set_receiver()
            if events and time.monotonic() - begin >= events[0][0]:
                _, what = events.pop(0)
                if what == "worker":
                    await self._kill_worker(stack)
                elif what == "temporal":
                    await self._kill_server(stack)
                elif what == "api":
                    await self._kill_api(stack)
                else:
                    await self._kill_sandbox(stack)
                self.last_fault_end = time.monotonic()

    def _child(self, stack: DevStack, name: str) -> Child:
        return next(c for c in stack.children if c.name == name)

    def _restart(self, stack: DevStack, child: Child) -> None:
        if child.log is not None:
            child.log.close()
        child.start(stack.env())  # from the event loop's thread: PR_SET_PDEATHSIG follows the thread

    async def _sigkill(self, stack: DevStack, name: str) -> Child:
        child = self._child(stack, name)
        self.down.add(name)
        child.signal(signal.SIGKILL)
        await asyncio.to_thread(_reap, child)
        return child

    async def _kill_worker(self, stack: DevStack) -> None:
        worker = await self._sigkill(stack, "worker")
        self.worker_kills += 1
        downtime = self.rng.uniform(1, 5)
        self.say(f"SIGKILL worker (kill {self.worker_kills}); restarting in {downtime:.1f}s")
        await asyncio.sleep(downtime)
        self._restart(stack, worker)
        self.down.discard("worker")

    async def _kill_server(self, stack: DevStack) -> None:
        temporal = await self._sigkill(stack, "temporal")
        self.server_kills += 1
        self.say(f"SIGKILL temporal dev server (kill {self.server_kills}); restarting it on the same SQLite file")
        await asyncio.sleep(self.rng.uniform(1, 4))
        self._restart(stack, temporal)
        began = time.monotonic()
        while not await _temporal_answers(stack.temporal_address):
            if temporal.exited() is not None:
                raise RuntimeError(f"the dev server did not restart:\n{temporal.tail()}")
            await asyncio.sleep(0.5)
        self.down.discard("temporal")
        self.say(f"temporal back after {time.monotonic() - began:.1f}s")
        # The API must become ready again by itself (its client reconnects).
        await self._until_answers("API", "/readyz", self.api)

    async def _kill_api(self, stack: DevStack) -> None:
        api = await self._sigkill(stack, "api")
        self.api_kills += 1
        downtime = self.rng.uniform(1, 4)
        self.say(f"SIGKILL API (kill {self.api_kills}); restarting in {downtime:.1f}s")
        await asyncio.sleep(downtime)
        self._restart(stack, api)
        self.down.discard("api")
        await self._until_answers("API", "/readyz", self.api)

    async def _kill_sandbox(self, stack: DevStack) -> None:
        # The sandbox counts faults from zero when it starts again: keep what this run counted.
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            self.counters_before.update((await self.sandbox.get("/payments/faults", timeout=5)).json()["counters"])
        if self.config.events:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                answer = (await self.sandbox.get("/receiver/faults", timeout=5)).json()
                self.receiver_counters_before.update(answer["counters"])
        sandbox = await self._sigkill(stack, "sandbox")
        self.sandbox_kills += 1
        downtime = self.rng.uniform(1, 4)
        self.say(f"SIGKILL sandbox (kill {self.sandbox_kills}); restarting it on its database in {downtime:.1f}s")
        await asyncio.sleep(downtime)
        self._restart(stack, sandbox)
        self.down.discard("sandbox")
        if await self._until_answers("sandbox", "/healthz", self.sandbox):
            await self._set_faults()  # its faults are run-time settings, gone with the process

    async def _until_answers(self, name: str, path: str, http: httpx.AsyncClient, within: float = 60.0) -> bool:
        began = time.monotonic()
        while time.monotonic() - began < within:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(path, timeout=5)).status_code == 200:
                    self.say(f"{name} ready again after {time.monotonic() - began:.1f}s")
                    return True
            await asyncio.sleep(0.5)
        self.findings.append(f"the {name} did not answer {path} within {within:.0f} s after a restart")
        return False

    async def _watchdog(self, stack: DevStack) -> None:
        for child in stack.children:
            if child.name in self.down or child.exited() is None:
                continue
            finding = (
                f"{child.name} exited by itself with code {child.exited()} at +{time.monotonic() - self.started:.0f}s"
                f" (server kills so far: {self.server_kills}, worker kills: {self.worker_kills}); restarted it. "
                f"Log tail:\n{child.tail(8)}"
            )
            self.findings.append(finding)
            self.say("FINDING: " + finding)
            self._restart(stack, child)
            if child.name == "sandbox" and await self._until_answers("sandbox", "/healthz", self.sandbox):
                await self._set_faults()

    async def _ensure_up(self, stack: DevStack) -> None:
        await self._watchdog(stack)
        for child in stack.children:
            if child.exited() is not None:
                self._restart(stack, child)

    def _scan_worker_log(self, stack: DevStack) -> None:
        """Workflow runs the worker failed to replay: what a kill did to determinism."""
        log = stack.log_dir / "worker.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if "Nondeterminism" in line:
                match = re.search(r"run_id\S*?=\S*?([0-9a-f]{8}-[0-9a-f-]{27})", line)
                self.nondeterministic_runs.add(match.group(1) if match else line[-80:])
        if self.nondeterministic_runs:
            self.findings.append(
                f"the worker logged nondeterminism errors for {len(self.nondeterministic_runs)} workflow run(s) "
                f"(see {log}); replaying those histories fails"
            )

    # ------------------------------------------------------------------------------ checks

    def _check(
        self,
        scripts: list[Script],
        views: dict[str, dict[str, Any] | None],
        ledger: dict[str, Any],
        counters: dict[str, int],
    ) -> HarnessResult:
        payouts_by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
        refund_by_order: dict[str, int] = defaultdict(int)
        for p in ledger.get("payouts", []):
            payouts_by_case[p["case_id"]].append(p)
            refund_by_order[f"{p['shop_id']}/{p['order_id']}"] += int(p["refund"])
        paid_total = {s.order_key: s.paid_total for s in scripts}
        results: list[CaseResult] = []
        losses = duplicates = 0
        groups: dict[str, list[CaseResult]] = defaultdict(list)
        for s in scripts:
            r = CaseResult(s.case_id, s.kind, s.expected_state, s.expected_refund, s.expected_reimbursement)
            r.group = s.group
            view = views.get(s.case_id)
            paid = payouts_by_case.get(s.case_id, [])
            r.payouts, r.paid = len(paid), sum(int(p["amount"]) for p in paid)
            r.ledger_refund = sum(int(p["refund"]) for p in paid)
            r.ledger_reimbursement = sum(int(p["reimbursement"]) for p in paid)
            duplicates += max(0, r.payouts - 1)
            if s.group is not None:
                groups[s.group].append(r)
                if view is None:
                    r.opened = False
                    if self.not_opened.get(s.case_id) != 422:
                        r.problems.append(f"never opened (last answer {self.not_opened.get(s.case_id)}), not refused")
                    if r.payouts:
                        r.problems.append(f"{r.payouts} payouts for a case that was never opened")
                    results.append(r)
                    continue
            if view is None:
                losses += 1
                r.problems.append("lost: no such case")
            else:
                if s.case_id in self.unreadable:
                    r.unreadable = self.unreadable[s.case_id]
                refund = view.get("refund") or {}
                r.state, r.refund, r.reimbursement = (
                    view.get("state"),
                    refund.get("refund"),
                    refund.get("reimbursement"),
                )
                if r.state != s.expected_state:
                    r.problems.append(
                        f"state {r.state} (waiting on {view.get('waiting_on')}), expected {s.expected_state}"
                    )
                if (
                    s.group is None
                    and s.expected_payout
                    and (r.refund, r.reimbursement) != (s.expected_refund, s.expected_reimbursement)
                ):
                    r.problems.append(
                        f"view refund {r.refund}+{r.reimbursement}, expected "
                        f"{s.expected_refund}+{s.expected_reimbursement}"
                    )
            expected_count = 1 if s.expected_payout else 0
            if r.payouts > expected_count:
                r.problems.append(f"{r.payouts} payouts, expected {expected_count}")
            elif r.payouts < expected_count:
                r.problems.append("never paid")
            if s.group is None and (r.ledger_refund, r.ledger_reimbursement) != (
                s.expected_refund,
                s.expected_reimbursement,
            ):
                r.problems.append(
                    f"ledger paid {r.ledger_refund}+{r.ledger_reimbursement}, expected "
                    f"{s.expected_refund}+{s.expected_reimbursement}"
                )
            results.append(r)
        multi = self._check_orders(groups, refund_by_order) if groups else None
        over = [k for k, v in refund_by_order.items() if v > paid_total.get(k, 0)]
        ours = {s.case_id for s in scripts}
        drain = None
        if self.last_case_end is not None and all(r.state in TERMINAL for r in results if r.opened):
            drain = max(0.0, self.last_case_end - (self.last_fault_end or self.started))
        return HarnessResult(
            cases=results,
            payouts=sum(len(v) for k, v in payouts_by_case.items() if k in ours),
            duplicates=duplicates,
            losses=losses,
            over_refunds=len(over),
            wrong_outcomes=sum(1 for r in results if not r.ok) + (len(multi.problems) if multi else 0),
            unreadable_views=len(self.unreadable),
            nondeterministic_runs=len(self.nondeterministic_runs),
            worker_kills=self.worker_kills,
            server_kills=self.server_kills,
            fault_counters=counters,
            findings=self.findings,
            elapsed=time.monotonic() - self.started,
            api_kills=self.api_kills,
            sandbox_kills=self.sandbox_kills,
            multi=multi,
            api_5xx=dict(self.api_5xx),
            unanswered=dict(self.unanswered),
            last_fault_at=None if self.last_fault_end is None else self.last_fault_end - self.started,
            drain_seconds=drain,
        )

    def _check_orders(self, groups: dict[str, list[CaseResult]], refund_by_order: dict[str, int]) -> MultiSummary:
        """Per multi-case order: as many cases opened as it has units (the rest refused with 422),
        each opened one paid once, and refunds adding up to exactly what was paid."""
        problems: list[str] = []
        twice = exactly = 0
        for order, cases in sorted(groups.items()):
            opened = [c for c in cases if c.opened]
            should_open = min(len(cases), MULTI_QUANTITY)
            if len(opened) != should_open:
                problems.append(f"order {order}: {len(opened)} of {len(cases)} cases opened, expected {should_open}")
            if sum(1 for c in cases if c.payouts) > MULTI_QUANTITY:
                twice += 1
                problems.append(f"order {order}: more cases paid than the order has units")
            expected = cases[0].expected_refund  # the order's paid total
            if refund_by_order.get(order, 0) == expected:
                exactly += 1
            else:
                problems.append(f"order {order}: refunds add up to {refund_by_order.get(order, 0)}, paid {expected}")
        return MultiSummary(
            orders=len(groups),
            cases=sum(len(c) for c in groups.values()),
            opened=sum(1 for cases in groups.values() for c in cases if c.opened),
            refused_at_open=sum(1 for cases in groups.values() for c in cases if not c.opened),
            quantity_claimed_twice=twice,
            paid_exactly=exactly,
            problems=problems,
        )


def scaled_policy(source: Path, factor: float, target: Path) -> Path:
    """A copy of the policy file with every duration of ``[deadlines]`` and ``[reminders]``
    multiplied by ``factor`` (and its version marked), written to ``target``."""
    import tomllib

    from domain.durations import format_duration, parse_duration

    def scale(value: Any) -> Any:
        if isinstance(value, list):
            return [scale(v) for v in value]
        return format_duration(parse_duration(value) * factor)

    document = tomllib.loads(source.read_text(encoding="utf-8"))
    lines = [f'version = "{document.get("version", "policy")}-x{factor:g}"']
    for table, values in document.items():
        if not isinstance(values, dict):
            continue
        lines += ["", f"[{table}]"]
        for key, value in values.items():
            if table in ("deadlines", "reminders"):
                value = scale(value)
            lines.append(f"{key} = {_toml(value)}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _reap(child: Child) -> None:
    if child.process is not None:
        child.process.wait()


async def _temporal_answers(address: str) -> bool:
    try:
        client = await asyncio.wait_for(connect(address), timeout=3)
        await asyncio.wait_for(client.count_workflows(), timeout=5)
        return True
    except Exception:  # noqa: BLE001 - not up yet, whatever the reason
        return False


def _outcome(c: CaseResult) -> str:
    return (c.state or "missing") if c.opened else "refused at opening"


def report(result: HarnessResult, *, every_case_events: bool = False) -> str:
    """The figures: one row per script kind, the multi-case orders, the faults, the API's 5xx,
    the drain time, the outbound events (by kind, and per case for the cases with a problem, or
    every case with ``every_case_events``), and the problems."""
    rows = []
    kinds: dict[str, list[CaseResult]] = defaultdict(list)
    for c in result.cases:
        kinds[c.kind].append(c)
    for kind, cases in sorted(kinds.items()):
        # A multi-case order's expected amount is the order's, carried by each of its cases.
        expected = {c.group or c.case_id: c.expected_refund + c.expected_reimbursement for c in cases}
        rows.append(
            [
                kind,
                len(cases),
                cases[0].expected_state + (" / refused" if cases[0].group else ""),
                ", ".join(f"{k} {v}" for k, v in sorted(Counter(_outcome(c) for c in cases).items())),
                sum(c.payouts for c in cases),
                render.money(sum(c.paid for c in cases), "CNY"),
                render.money(sum(expected.values()), "CNY"),
                sum(1 for c in cases if c.ok),
            ]
        )
    lines = [render.table(rows, ["script", "cases", "expected", "outcomes", "payouts", "paid", "expected paid", "ok"])]
    lines.append("")
    lines.append(
        f"cases {len(result.cases)}  by outcome: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(_outcome(c) for c in result.cases).items()))
    )
    lines.append(
        f"payouts {result.payouts}  duplicates={result.duplicates}  losses={result.losses}  "
        f"over_refunds={result.over_refunds}  wrong_outcomes={result.wrong_outcomes}"
    )
    m = result.multi
    if m is not None:
        lines.append(
            f"multi-case orders {m.orders} ({m.cases} cases): opened {m.opened}, refused at opening "
            f"{m.refused_at_open}, paid exactly the order's total {m.paid_exactly}/{m.orders}, "
            f"quantity_claimed_twice={m.quantity_claimed_twice}"
        )
    lines.append(f"unreadable_views={result.unreadable_views}  nondeterministic_runs={result.nondeterministic_runs}")
    lines.append(
        "API 5xx by status: "
        + (", ".join(f"{k} {v}" for k, v in sorted(result.api_5xx.items())) or "none")
        + "   no answer (timeout, connection refused or cut): "
        + (", ".join(f"{k} {v}" for k, v in sorted(result.unanswered.items())) or "none")
    )
    lines.append("faults injected: " + ", ".join(f"{k} {v}" for k, v in result.fault_counters.items()))
    lines.append(
        f"kills: worker {result.worker_kills}, server {result.server_kills}, API {result.api_kills}, "
        f"sandbox {result.sandbox_kills}   elapsed {result.elapsed:.0f}s"
    )
    if result.last_fault_at is not None:
        drained = "not drained" if result.drain_seconds is None else f"{result.drain_seconds:.0f}s"
        lines.append(f"last fault over at +{result.last_fault_at:.0f}s; every case ended {drained} after it")
    for c in result.cases:
        if not c.ok:
            lines.append(f"  PROBLEM {c.case_id} ({c.kind}): " + "; ".join(c.problems))
        if c.unreadable is not None:
            lines.append(f"  UNREADABLE {c.case_id} ({c.kind}): GET /v1/cases answered {c.unreadable} at the end")
    if m is not None:
        for problem in m.problems:
            lines.append(f"  PROBLEM {problem}")
    if result.events is not None:
        lines += report_lines(result.events, result.kinds, every_case=every_case_events)
    for f in result.findings:
        lines.append(f"  FINDING {f}")
    verdict = "PASS" if result.ok else ("FAIL (money and outcomes fine)" if result.money_ok else "FAIL")
    lines.append("RESULT: " + verdict)
    return "\n".join(lines)


def run_harness(config: HarnessConfig) -> HarnessResult:
    """Start a private stack, play the cases under faults and kills, check; the stack is stopped after."""
    return Harness(config).run()
