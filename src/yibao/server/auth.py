"""Signed, expiring tokens: API bearer tokens and page session cookies (HMAC-SHA256, per-store key).

A token is ``base64url(payload JSON) "." base64url(HMAC(key, purpose "|" payload))``; the payload
holds the user name, the expiry (UNIX seconds) and a random nonce (the CSRF token of a page
session). A token is valid only for its purpose (``api`` or ``session``), before its expiry, and
while its user exists with the same role.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign(key: bytes, purpose: str, username: str, role: str, hours: float) -> str:
    payload = _b64(json.dumps({"u": username, "r": role, "exp": int(time.time() + hours * 3600),
                               "n": secrets.token_urlsafe(16)}, separators=(",", ":")).encode())
    mac = hmac.new(key, f"{purpose}|{payload}".encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(key: bytes, purpose: str, token: str | None) -> dict | None:
    """The payload of a valid token, else None."""
    if not token or token.count(".") != 1:
        return None
    payload, mac = token.split(".")
    try:
        good = hmac.new(key, f"{purpose}|{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(good, _unb64(mac)):
            return None
        data = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or int(data.get("exp", 0)) <= time.time():
        return None
    return data
