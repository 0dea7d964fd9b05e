"""Connect tokens: the one description of their format, and their check.

Pure Python (no Odoo import): Slipway's Odoo stand-in loads this file as is.

A token is four fields joined by dots::

    v1.<expires>.<nonce>.<signature>

- ``expires``: when it stops working, in Unix seconds (decimal digits);
- ``nonce``: 32 lower-case hex digits, random, so that no two tokens are alike;
- ``signature``: 64 lower-case hex digits, HMAC-SHA256 under the build's key (the
  ``slipway_connect_key`` of its odoo.conf, as UTF-8 bytes) of the text
  ``slipway-connect.v1.<database>.<expires>.<nonce>``.

The database is signed, not written in the token: a token made for another database (or
with another build's key) fails the signature check. A token is refused once expired, when
it claims to live longer than ``MAX_LIFETIME`` seconds, and, within one process, when its
nonce was used already. Slipway signs tokens in ``slipway_proxy::connect_token`` (Rust).
"""
import hashlib
import hmac
import re
import threading

VERSION = 'v1'
MAX_LIFETIME = 300
_SHAPE = re.compile(r'v1\.([0-9]{1,12})\.([0-9a-f]{32})\.([0-9a-f]{64})')


class Refused(Exception):
    """Why a token does not open a session (safe to show to whoever sent it)."""


def signed_text(database, expires, nonce):
    return f'slipway-connect.{VERSION}.{database}.{expires}.{nonce}'


def signature(key, database, expires, nonce):
    text = signed_text(database, expires, nonce).encode()
    return hmac.new(key.encode(), text, hashlib.sha256).hexdigest()


def verify(key, token, database, now):
    """``(nonce, expires)`` if ``token`` opens a session on ``database`` at ``now`` (Unix
    seconds) under ``key``; raises ``Refused`` saying why not."""
    if not key:
        raise Refused('this server has no slipway_connect_key in its configuration')
    match = _SHAPE.fullmatch(token or '')
    if not match:
        raise Refused('malformed token')
    expires, nonce, given = int(match.group(1)), match.group(2), match.group(3)
    if not hmac.compare_digest(signature(key, database, expires, nonce), given):
        raise Refused('bad signature (another key, or another database)')
    if expires <= now:
        raise Refused('expired token')
    if expires > now + MAX_LIFETIME:
        raise Refused(f'token lives longer than {MAX_LIFETIME} seconds')
    return nonce, expires


class Nonces:
    """Nonces already used, kept until their token expires (one process's memory)."""

    def __init__(self):
        self._seen = {}
        self._lock = threading.Lock()

    def use(self, nonce, expires, now):
        """Records ``nonce``; raises ``Refused`` if it was used already."""
        with self._lock:
            self._seen = {n: e for n, e in self._seen.items() if e > now}
            if nonce in self._seen:
                raise Refused('token already used')
            self._seen[nonce] = expires
