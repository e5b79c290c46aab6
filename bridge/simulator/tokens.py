"""Cortex tokens: JWT-shaped HS256 tokens like the ones users pasted from real Cortex.

Observed payload (cortex_api.md §2.2): ``{appId, appVersion, exp, nbf, userId, username,
version: "2.0"}`` with ``exp - nbf`` = 259 200 s. The simulator signs with its own secret,
so it can tell its own tokens from garbage (-32014) and expired ones from valid ones
(-32015). Tokens survive a restart with the same ``--seed``, as real tokens survive a
Cortex restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


@dataclass(frozen=True, slots=True)
class TokenClaims:
    app_id: str
    client_id: str
    exp: int
    nbf: int


class TokenError(Exception):
    """A token that is not ours (``expired`` False) or that has expired (True)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


class TokenAuthority:
    """Issues and checks tokens; remembers which ones a fault has forced to expire."""

    def __init__(self, secret: bytes, user_id: str, username: str) -> None:
        self._secret = secret
        self._user_id = user_id
        self._username = username
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        # clientId of each token we issued (the payload only carries appId).
        self._clients: dict[str, str] = {}

    def issue(self, app_id: str, client_id: str, now: float, lifetime_s: float) -> str:
        nbf = int(now)
        exp = int(now + lifetime_s)
        while True:
            payload = {
                "appId": app_id,
                "appVersion": "1.0",
                "exp": exp,
                "nbf": nbf,
                "userId": self._user_id,
                "username": self._username,
                "version": "2.0",
            }
            token = self._sign(payload)
            # Within one second the same claims give the same token; a revoked one must
            # not come back, so nudge exp until the token is new.
            if token not in self._revoked:
                break
            exp += 1
        self._issued.add(token)
        self._clients[token] = client_id
        return token

    def verify(self, token: str, now: float) -> TokenClaims:
        """The token's claims, or :class:`TokenError`."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _HEADER:
            raise TokenError(expired=False)
        expected = _b64(
            hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise TokenError(expired=False)
        try:
            payload: Any = json.loads(_unb64(parts[1]))
            app_id, exp, nbf = str(payload["appId"]), int(payload["exp"]), int(payload["nbf"])
        except (ValueError, KeyError, TypeError):
            raise TokenError(expired=False) from None
        if token in self._revoked or now >= exp:
            raise TokenError(expired=True)
        client_id = self._clients.get(token, app_id.rsplit(".", 1)[-1])
        return TokenClaims(app_id, client_id, exp, nbf)

    def expire_all(self) -> int:
        """Fault: every token issued so far is treated as expired from now on."""
        fresh = self._issued - self._revoked
        self._revoked |= fresh
        return len(fresh)

    @property
    def issued_count(self) -> int:
        return len(self._issued)

    @property
    def issued(self) -> frozenset[str]:
        """Every token issued so far (tests scan logs for them; never sent on the wire)."""
        return frozenset(self._issued)

    def _sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        sig = hmac.new(self._secret, f"{_HEADER}.{body}".encode(), hashlib.sha256).digest()
        return f"{_HEADER}.{body}.{_b64(sig)}"
