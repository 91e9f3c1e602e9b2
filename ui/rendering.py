"""What the page shows of documents and answers, and the page's Content-Security-Policy.

Text from a document or a model is rendered as Markdown (bold, lists) but can load nothing: raw HTML shows
as text, links and images (`![](http://...)`, `[x](...)`, bare URLs) show as their text, and code shows
its literal text (`<package>` stays `<package>`). The CSP header is the second line of defence: the
browser loads no image, script, font or frame from another origin.
"""

from __future__ import annotations

import html
import re
import string

# A fenced block (``` or ~~~, to its closing fence or the end) or an inline code span (matching backticks).
CODE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<block>.*?)(?:^(?P=fence)[ \t]*$|\Z)"
    r"|(?P<ticks>`+)(?P<span>(?:(?!(?P=ticks)).)+?)(?P=ticks)(?!`)",
    re.MULTILINE | re.DOTALL,
)
# Prose syntax that fetches or links, to break up with character references: link and image brackets, the
# `:` of `scheme://` and the `@` of an e-mail (GFM autolinks, any case), and a dot inside a word (`www.x`,
# `evil.com`: marked links `WWW.` too, linkify-style renderers bare domains). A list's `1. ` stays.
LINK_SYNTAX = re.compile(r"[\\\[\]@]|:(?=//)|\.(?=\S)")
# Every ASCII punctuation character, as a numeric reference: in code no Markdown syntax survives.
PUNCTUATION = {ord(c): f"&#{ord(c)};" for c in string.punctuation}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Gradio's page sets its config in inline scripts, gr.HTML evaluates its template as JavaScript, and
        # components are styled inline; nothing comes from another origin.
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)


def _prose(text: str) -> str:
    return LINK_SYNTAX.sub(lambda match: f"&#{ord(match[0])};", html.escape(text, quote=False))


def _code(text: str) -> str:
    return text.translate(PUNCTUATION)


def safe_markdown(text: str | None) -> str:
    """`text` as Markdown that loads nothing and runs nothing. Prose keeps emphasis and lists, but its HTML is
    escaped and its link syntax broken up with character references; code is emitted as `<code>`/`<pre>` with
    every ASCII punctuation character as a reference, so no Markdown inside it is parsed and the browser shows
    its literal text. Also valid as HTML text."""
    text = text or ""
    parts, end = [], 0
    for match in CODE.finditer(text):
        parts.append(_prose(text[end : match.start()]))
        if match["fence"]:
            parts.append(f"<pre><code>{_code(match['block'])}</code></pre>\n")
        else:
            parts.append(f"<code>{_code(match['span'])}</code>")
        end = match.end()
    parts.append(_prose(text[end:]))
    return "".join(parts)


class ContentSecurityPolicy:
    """ASGI middleware: every HTTP response carries `CONTENT_SECURITY_POLICY` ."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"
                ]
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)
