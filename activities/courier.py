"""Parcel status from the courier: the polling fallback for when tracking events do not arrive."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from temporalio import activity

from activities._http import raise_for_provider
from activities.contracts import ParcelLookup, ParcelStatusReport


class CourierActivities:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    @activity.defn(name="lookup_parcel")
    async def lookup_parcel(self, lookup: ParcelLookup) -> ParcelStatusReport:
        # The buyer types the tracking number: escape it, so a '#', '?' or '/' in it cannot turn
        # the lookup into one about another parcel.
        carrier, tracking = quote(lookup.carrier, safe=""), quote(lookup.tracking_number, safe="")
        response = await self._client.get(f"{self._base_url}/parcels/{carrier}/{tracking}")
        if response.status_code == 404:
            return ParcelStatusReport(known=False)
        raise_for_provider(response, "courier", permanent_type="CourierRefused")
        body = response.json()
        return ParcelStatusReport(known=True, status=body.get("status"), occurred_at=body.get("occurred_at"))
