"""Keeping secrets out of everything autodistill prints: one masking function for URLs.

:func:`mask_url` hides the password of a URL's userinfo (also when the password holds
``@``, ``:`` or ``/``) and the value of every query parameter whose name says it is a
secret (``password``, ``sslpassword``, ``token``, ``api_key``, ...). Errors, tables, JSON
and logs print URLs only through it. :func:`scrub` is the backstop for free text (a
driver's error message, a log line): it masks every URL in the text and every secret of a
URL that :func:`remember` was given (``storage.resolve_url`` remembers each one it
resolves), wherever the driver happened to echo it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

__all__ = ["MASK", "mask_url", "secrets_of", "remember", "scrub", "ScrubFilter",
           "quote_userinfo", "scrub_logs"]

MASK = "***"
#: A query parameter whose (decoded, lower-cased) name matches this holds a secret.
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth|credential|signature|sig$|pwd", re.I)
#: A URL inside free text: a scheme, ``://`` and everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]*[^\s'\"<>:;,.)]")
#: ``password=...`` in a libpq keyword/value string or a message echoing one.
_KEYWORD_SECRET = re.compile(r"\b((?:ssl)?password|passwd|pwd|token|secret)(\s*=\s*)('[^']*'|[^\s&;,)]*[^\s&;,):.])",
                             re.I)
_MIN_LITERAL = 4  # shorter secrets are not replaced inside free text (too many false hits)
_known: set[str] = set()


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, userinfo, rest_of_authority_and_path, ?query#fragment)`` or None.

    The userinfo ends at the *last* ``@`` before the query, so a password holding ``@``
    is masked whole (at worst the host is masked with it, never a piece of the secret).
    """
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    head, body = url[:scheme_end + 3], url[scheme_end + 3:]
    query_at = min((i for i in (body.find("?"), body.find("#")) if i >= 0), default=len(body))
    tail = body[query_at:]
    body = body[:query_at]
    at = body.rfind("@")
    if body.startswith("/") or at < 0:
        return head, "", body, tail
    return head, body[:at], body[at + 1:], tail


def _mask_query(tail: str) -> str:
    if not tail.startswith("?"):
        return tail
    query, hash_, fragment = tail[1:].partition("#")
    parts = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        secret = eq and value and _SECRET_KEY.search(unquote(key).replace("_", ""))
        parts.append(f"{key}={MASK}" if secret else item)
    return "?" + "&".join(parts) + hash_ + fragment


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    >>> mask_url("postgresql://u:p@ss@host/db?sslpassword=x&sslmode=require")
    'postgresql://u:***@host/db?sslpassword=***&sslmode=require'
    """
    text = str(url)
    parts = _split(text)
    if parts is None:
        return _KEYWORD_SECRET.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    head, userinfo, rest, tail = parts
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        userinfo = f"{user}:{MASK}@" if colon else f"{user}@"
    return head + userinfo + rest + _mask_query(tail)


def quote_userinfo(url: str) -> str:
    """``url`` with a password holding ``@`` (or ``/``) percent-encoded, as URL parsers
    need it: ``u:p@ss@host`` becomes ``u:p%40ss@host`` (other URLs are returned as is)."""
    from urllib.parse import quote

    parts = _split(str(url))
    if parts is None or not parts[1] or ("@" not in parts[1] and "/" not in parts[1]):
        return url
    head, userinfo, rest, tail = parts
    user, colon, password = userinfo.partition(":")
    encoded = quote(unquote(user), safe="") + (":" + quote(password, safe="%") if colon else "")
    return f"{head}{encoded}@{rest}{tail}"


def secrets_of(url: str) -> list[str]:
    """The secrets ``url`` carries (raw and percent-decoded): password, secret query values."""
    parts = _split(str(url))
    if parts is None:
        return [m.group(3).strip("'") for m in _KEYWORD_SECRET.finditer(str(url))]
    found = []
    _, userinfo, _, tail = parts
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    query = tail[1:].partition("#")[0] if tail.startswith("?") else ""
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if eq and value and _SECRET_KEY.search(unquote(key).replace("_", "")):
            found.append(value)
    return [s for secret in found for s in {secret, unquote(secret)} if s]


def remember(url: str) -> None:
    """Remember ``url``'s secrets, so that :func:`scrub` hides them wherever they appear."""
    _known.update(secrets_of(url))


def scrub(text: str) -> str:
    """``text`` with every URL masked and every remembered secret replaced by ``***``."""
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), str(text))
    text = _KEYWORD_SECRET.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    for secret in sorted(_known, key=len, reverse=True):
        if len(secret) >= _MIN_LITERAL:
            text = text.replace(secret, MASK)
    return text


class ScrubFilter(logging.Filter):
    """A logging filter that passes every record's message through :func:`scrub`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its scrubbed rendering; keep the record."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def scrub_logs() -> None:
    """Pass every record of the root logger's handlers through :func:`scrub` (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
