"""A loopback stand-in for the Hugging Face Hub: a real HTTP server on 127.0.0.1 that serves dataset
repositories in the Hub's layout, with the API answers and headers huggingface_hub's downloads read
(huggingface_hub 2.x: `repo_info`, `list_repo_tree`, then a HEAD and a GET per file through /resolve/).

    with HubStandIn({"lmms-lab/DocVQA": {"DocVQA/validation-00000-of-00001.parquet": data}}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)

- `GET /api/datasets/{repo}/revision/{rev}`: id, sha (the commit) and siblings;
- `GET /api/datasets/{repo}/tree/{rev}[/{path}]`: files with size, git blob oid and, for binary files, the
  LFS pointer (sha256), as the Hub lists them;
- `HEAD`/`GET /datasets/{repo}/resolve/{rev}/{path}`: the file, with `ETag` (the sha256 for LFS files, the
  blob oid otherwise), `X-Repo-Commit`, `Content-Length`; unknown repos and files answer 404 with the Hub's
  `X-Error-Code` (RepoNotFound, EntryNotFound, RevisionNotFound).

With `token`, every request must carry `Authorization: Bearer <token>` (401 otherwise). `requests` records
(method, path, authorization) of each request. Xet is not served: files come over plain HTTP, as the Hub
does for repositories not on Xet.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".tsv", ".png", ".jpg", ".safetensors", ".bin")
_REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = {
    "info": re.compile(rf"^/api/datasets/{_REPO}/revision/(?P<rev>[^/]+)$"),
    "tree": re.compile(rf"^/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$"),
    "resolve": re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"),
}


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1()
            for path in sorted(self.files):
                digest.update(path.encode() + b"\0" + self.files[path])
            self.commit = digest.hexdigest()

    def entry(self, path: str) -> dict:
        data = self.files[path]
        entry = {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def etag(self, path: str) -> str:
        entry = self.entry(path)
        return entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]


@dataclass
class HubStandIn:
    repos: dict[str, dict[str, bytes]]
    token: str | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._repos = {repo_id: Repo(files) for repo_id, files in self.repos.items()}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first (with HubStandIn(...) as hub)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def commit(self, repo_id: str) -> str:
        return self._repos[repo_id].commit

    def __enter__(self) -> HubStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str, body: bool, commit: str = "") -> None:
                headers = {
                    "Content-Type": "application/json",
                    "X-Error-Code": code,
                    "X-Error-Message": message,
                }
                if commit:
                    headers["X-Repo-Commit"] = commit
                self._send(status, json.dumps({"error": message}).encode(), headers, body)

            def _json(self, value: object, body: bool) -> None:
                self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json"}, body)

            def _answer(self, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                authorization = self.headers.get("Authorization")
                hub.requests.append((self.command, path, authorization))
                if hub.token is not None and authorization != f"Bearer {hub.token}":
                    return self._error(401, "Unauthorized", "Invalid credentials", body)
                for route, pattern in ROUTES.items():  # noqa: B007 (route is read after the loop)
                    if match := pattern.match(path):
                        break
                else:
                    return self._error(404, "NotFound", f"no route for {path}", body)
                repo = hub._repos.get(match["repo"])
                if repo is None:
                    return self._error(404, "RepoNotFound", "Repository not found", body)
                if match["rev"] not in ("main", repo.commit):
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}", body)
                if route == "info":
                    siblings = [{"rfilename": name} for name in sorted(repo.files)]
                    return self._json({"id": match["repo"], "sha": repo.commit, "siblings": siblings}, body)
                if route == "tree":
                    prefix = f"{match['path'].rstrip('/')}/" if match["path"] else ""
                    names = [name for name in sorted(repo.files) if name.startswith(prefix)]
                    return self._json([repo.entry(name) for name in names], body)
                name = match["path"]
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", f"{name} does not exist", body, repo.commit)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "ETag": f'"{repo.etag(name)}"',
                    "X-Repo-Commit": repo.commit,
                    "Accept-Ranges": "bytes",
                }
                self._send(200, repo.files[name], headers, body)

        return Handler
