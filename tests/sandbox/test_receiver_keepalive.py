"""The sandbox's event receiver answers an accepted event with a bare 204, so a sender keeping its
connection alive (as the dispatcher does) sends event after event over it."""

from __future__ import annotations

import json
import time

import httpx

from casefeed import signing
from sandbox import create_app
from tests.support.serve import serve


async def test_events_sent_over_one_kept_alive_connection_are_all_accepted():
    secret = signing.new_secret()
    async with serve(create_app()) as base_url, httpx.AsyncClient(
        base_url=base_url, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
    ) as http:
        (await http.put("/receiver/config", json={"secret": secret})).raise_for_status()
        ports = set()
        for n in range(1, 6):
            body = json.dumps({"id": f"evt_{n}", "type": "case.updated", "case_id": "c1", "sequence": n}).encode()
            answer = await http.post("/receiver/events", content=body,
                                     headers=signing.headers(secret, f"evt_{n}", int(time.time()), body))
            # A body on a 204 (JSONResponse renders "null") is a protocol error: uvicorn drops the
            # connection after the answer, and a sender reusing it meets a ReadError or reconnects.
            assert (answer.status_code, answer.content) == (204, b"")
            ports.add(answer.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert len(ports) == 1, f"the receiver dropped the connection: {len(ports)} connections for 5 events"
        report = (await http.get("/receiver/events")).json()
        assert [e["id"] for e in report["accepted"]] == [f"evt_{n}" for n in range(1, 6)]
