"""What the page shows of documents and answers, and the page's Content-Security-Policy.

Text from a document or a model is rendered as Markdown (bold, lists) but can load nothing: raw HTML shows
as text, links and images (`![](http://...)`, `[x](...)`, bare URLs) show as their text, and code shows
its literal text (`<package>` stays `<package>`). The CSP header is the second line of defence: the
browser loads no image, script, font or frame from another origin.
"""

from __future__ import annotations

import html
import re

# A fenced block (``` or ~~~, to its closing fence or the end) or an inline code span (matching backticks).
CODE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<block>.*?)(?:^(?P=fence)[ \t]*$|\Z)"
    r"|(?P<ticks>`+)(?P<span>(?:(?!(?P=ticks)).)+?)(?P=ticks)(?!`)",
    re.MULTILINE | re.DOTALL,
)
# Markdown syntax that fetches or links: link and image brackets, bare URLs (GFM autolinks), `www.`.
LINK_SYNTAX = [("\\", "&#92;"), ("[", "&#91;"), ("]", "&#93;"), ("://", "&#58;//"), ("www.", "www&#46;")]

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
    text = html.escape(text, quote=False)
    for syntax, entity in LINK_SYNTAX:
        text = text.replace(syntax, entity)
    return text


def safe_markdown(text: str | None) -> str:
    """`text` as Markdown that loads nothing and runs nothing: every character of it is escaped, code is
    emitted as `<code>`/`<pre>` with escaped content (so it shows literally), and link syntax is broken up
    with character references. Also valid as HTML text."""
    text = text or ""
    parts, end = [], 0
    for match in CODE.finditer(text):
        parts.append(_prose(text[end : match.start()]))
        if match["fence"]:
            parts.append(f"<pre><code>{html.escape(match['block'], quote=False)}</code></pre>\n")
        else:
            parts.append(f"<code>{html.escape(match['span'], quote=False)}</code>")
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
