"""Embedding the office API in another tool: the same doors the pages and the CLI use.

The office API (``edoc_exchange.office``) is synchronous: a Django view, a script or a
Celery task calls it directly. Async code (FastAPI, Starlette, aiohttp) calls it off the
event loop with ``asyncio.to_thread`` (the pages do the same through Starlette's thread
pool), so a slow query never holds the loop. Roles and states are checked by the office
functions themselves, not by the pages: a tool gets the same rules.

Run ``python examples/embed_office.py CONFIG USERNAME PASSWORD`` against an office's
configuration: it signs the user in, lists the incoming documents they may see (sync),
then does the same from async code.
"""

from __future__ import annotations

import asyncio
import sys

from edoc_exchange.config import load_settings
from edoc_exchange.office import Office, build_office, staff
from edoc_exchange.office.incoming import IncomingFilters, IncomingItem, list_incoming


def sign_in(office: Office, username: str, password: str) -> staff.User:
    """Check a member of staff's password (rate limited, audited) as the pages do."""
    return staff.sign_in(office.db, username, password, address=None).user


def waiting(office: Office, user: staff.User) -> list[IncomingItem]:
    """Sync (a Django view, a script): the documents waiting for registration (state 01)."""
    return list(list_incoming(office, IncomingFilters(state="01"), viewer=user).items)


async def waiting_async(office: Office, user: staff.User) -> list[IncomingItem]:
    """Async (a FastAPI endpoint): the same call, off the event loop."""
    page = await asyncio.to_thread(
        list_incoming, office, IncomingFilters(state="01"), viewer=user
    )
    return list(page.items)


def main(config: str, username: str, password: str) -> None:
    office = build_office(load_settings(config), receiving=False)
    user = sign_in(office, username, password)
    for item in waiting(office, user):
        print(f"{item.received_at:%d/%m/%Y %H:%M}  {item.sender_name or item.sender}: "
              f"{item.subject}")
    print(f"async: {len(asyncio.run(waiting_async(office, user)))} waiting")


if __name__ == "__main__":
    main(*sys.argv[1:4])
