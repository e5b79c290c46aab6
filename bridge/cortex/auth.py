"""Access and tokens: the user's approval in EMOTIV Launcher, ``authorize``, and keeping
a token valid across calls and reconnects.

A token outlives the connection it was issued on, so it is kept here, not with the
connection, and reused after a reconnect while it is valid (a new ``authorize`` may
debit a session from the licence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bridge.cortex.api import CortexApi, token_expiry
from bridge.cortex.errors import Action, error_rule
from bridge.cortex.protocol import CortexError, CortexWarning, ErrorCode
from bridge.errors import AuthError, BridgeError

log = logging.getLogger(__name__)

T = TypeVar("T")

ACCESS_POLL_SECONDS = 5.0  # hasAccessRight again while the user has not answered
TOKEN_REFRESH_MARGIN = 3600.0  # renew a token this long before it expires
CREDENTIALS_REFUSED = (
    "Cortex refused the client id or secret (error -32021); check "
    "cortex.client_id and the client secret"
)


class AccessPending(BridgeError):
    """The user has not approved this application in EMOTIV Launcher yet."""


class Authorizer:
    """Gets and keeps this application's access and token.

    Warnings 9 and 10 (the user approved or rejected the application) arrive on the
    connection's reader; :meth:`access_answered` takes them, so the wait for approval
    ends at once rather than at the next poll.
    """

    def __init__(self, client_id: str, secret: str, license: str, debit: int) -> None:
        self.client_id = client_id
        self._secret = secret
        self.license = license
        self.debit = debit
        self.token: str | None = None
        self._answered = asyncio.Event()
        self._rejected = False

    def change_credentials(self, client_id: str, secret: str, license: str, debit: int) -> None:
        """A reload: a new client id or secret makes the kept token worthless."""
        if client_id != self.client_id or secret != self._secret:
            self.token = None
        self.client_id, self._secret, self.license, self.debit = client_id, secret, license, debit

    def access_answered(self, granted: bool) -> None:
        self._rejected = not granted
        self._answered.set()

    async def ensure_access(
        self, api: CortexApi, on_pending: Callable[[str], None], wait: bool = True
    ) -> None:
        """Return once the user has approved this application; ``on_pending`` is called
        once, with Cortex's message, when the approval must be waited for. Without
        ``wait``, access is requested (the Launcher prompts the user) and a missing
        approval raises :class:`AccessPending` instead of being waited for."""
        try:
            if not wait:
                # Asked once all the same, so that EMOTIV Launcher shows its prompt
                # (``check``: the user approves, then runs it again).
                state = await api.has_access_right(self.client_id, self._secret)
                if not state.granted:
                    asked = await api.request_access(self.client_id, self._secret)
                    if asked.granted:
                        return
                    raise AccessPending(asked.message or state.message or "access not granted yet")
                return
            await self._wait_for_access(api, on_pending)
        except CortexError as exc:
            # hasAccessRight checks the client id and secret before authorize does: -32021
            # here is as final as from authorize, not a reason to reconnect.
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            raise

    async def _wait_for_access(self, api: CortexApi, on_pending: Callable[[str], None]) -> None:
        state = await api.has_access_right(self.client_id, self._secret)
        if state.granted:
            return
        self._answered.clear()
        self._rejected = False
        await api.request_access(self.client_id, self._secret)
        on_pending(state.message or "access not granted yet")
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ACCESS_POLL_SECONDS):
                    await self._answered.wait()
            if self._rejected:
                raise AuthError(
                    "the user rejected this application's access request in EMOTIV Launcher"
                )
            state = await api.has_access_right(self.client_id, self._secret)
            if state.granted:
                log.info("access approved in EMOTIV Launcher")
                return

    async def authorize(
        self, api: CortexApi, on_warning: Callable[[CortexWarning], None] | None = None
    ) -> None:
        """Reuse a token that is still valid; otherwise authorize. A ``warning`` in the
        answer (the docs show one) goes to ``on_warning`` like any other warning."""
        if self.token is not None and not _due(self.token):
            api.token = self.token
            return
        try:
            self.token = await api.authorize(self.client_id, self._secret, self.license, self.debit)
            warning = api.authorize_warning
            if on_warning is not None and warning is not None:
                code = warning.get("code")
                if isinstance(code, int):
                    on_warning(CortexWarning(code, warning.get("message", "")))
        except CortexError as exc:
            if exc.code == ErrorCode.INVALID_CREDENTIALS:
                raise AuthError(CREDENTIALS_REFUSED) from None
            if exc.code == ErrorCode.INVALID_LICENSE:
                raise AuthError(
                    f"Cortex refused the licence (error {exc.code}: {exc.cortex_message}); "
                    "check cortex.license or leave it empty"
                ) from None
            raise
        log.info("authorized with Cortex")

    async def with_token(self, api: CortexApi, call: Callable[[], Awaitable[T]]) -> T:
        """Run a call; on an invalid or expired token authorize once and run it again."""
        try:
            return await call()
        except CortexError as exc:
            # The table's REAUTHORIZE rows (cortex/errors.py), not a list of our own.
            if error_rule(exc.code, exc.method).action is not Action.REAUTHORIZE:
                raise
            log.warning("Cortex token refused (%s); authorizing again", exc.code)
            self.token = None
            await self.authorize(api)
            return await call()

    async def refresh_if_due(self, api: CortexApi) -> None:
        if self.token is None or not _due(self.token):
            return
        try:
            self.token = await api.generate_new_token(self.client_id, self._secret)
            log.info("Cortex token renewed before expiry")
        except CortexError:
            self.token = None
            await self.authorize(api)


def _due(token: str) -> bool:
    """A token we cannot read the expiry of is kept until Cortex refuses it."""
    expiry = token_expiry(token)
    return expiry is not None and expiry - time.time() <= TOKEN_REFRESH_MARGIN
