"""What the routes share: settings, tokens, the Temporal client and the case service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from casefeed.store import EventStore
from http_api.auth import JwtVerifier, TokenBook
from http_api.problems import dependency_fault
from http_api.visibility import PageTokens
from runtime.cases import CaseService
from runtime.settings import Settings


@dataclass
class ApiState:
    settings: Settings
    tokens: TokenBook
    page_tokens: PageTokens
    jwt: JwtVerifier | None = None
    client: Client | None = None
    service: CaseService | None = None
    #: The event store (``CaseService``: reads, and what commands changed).
    store: EventStore | None = None

    def connected(self, client: Client) -> None:
        self.client = client
        self.service = CaseService(client, self.settings.task_queue, self.settings.policy, events=self.settings.events,
                                   store=self.store, event_retry_for=self.settings.event_retry_for)


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def case_service(request: Request) -> CaseService:
    service = api_state(request).service
    if service is None:
        raise dependency_fault(503, "not connected to Temporal yet; retry shortly", may_have_applied=False)
    return service


def temporal_client(request: Request) -> Client:
    client = api_state(request).client
    if client is None:
        raise dependency_fault(503, "not connected to Temporal yet; retry shortly", may_have_applied=False)
    return client


State = Annotated[ApiState, Depends(api_state)]
Service = Annotated[CaseService, Depends(case_service)]
TemporalClient = Annotated[Client, Depends(temporal_client)]
