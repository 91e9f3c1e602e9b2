"""A stand-in OpenAI-compatible endpoint that misbehaves on purpose (503s, 400s, slow answers), run by
uvicorn on 127.0.0.1: a remote server's failures cannot be had on demand. The served model name picks
the behaviour. Real answers are tested against `vlmbench serve` in tests/service."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from PIL import Image


class Endpoint:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = self._app()

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> JSONResponse:
            names = ["ok", "flaky", "bad", "slow", "busy", "stream", "images"]
            return JSONResponse(
                {"data": [{"id": name} for name in names]}, headers={"server": "stand-in/1.0"}
            )

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            body = await request.json()
            model, prompt = body["model"], _prompt(body)
            self.calls[f"{model}:{prompt}"] += 1
            if model == "flaky" and self.calls[f"{model}:{prompt}"] <= 2:
                return JSONResponse(
                    {"error": {"message": "overloaded"}}, status_code=503, headers={"retry-after": "0"}
                )
            if model == "bad":
                return JSONResponse({"error": {"message": "max_tokens is too large"}}, status_code=400)
            if model == "slow":
                await asyncio.sleep(2)
            if model == "busy":
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                await asyncio.sleep(0.2)
                self.in_flight -= 1
            text = _image_sizes(body) if model == "images" else f"answer to {prompt}"
            if body.get("stream"):
                return StreamingResponse(_events(text), media_type="text/event-stream")
            return {
                "choices": [{"message": {"content": text}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3},
            }

        return app


def _prompt(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def _image_sizes(body: dict) -> str:
    sizes = []
    for part in body["messages"][-1]["content"]:
        if part["type"] == "image_url":
            payload = part["image_url"]["url"].split(",", 1)[1]
            sizes.append("x".join(map(str, Image.open(io.BytesIO(base64.b64decode(payload))).size)))
    return " ".join(sizes)


async def _events(text: str):
    for word in text.split(" "):
        yield f"data: {json.dumps({'choices': [{'delta': {'content': word + ' '}}]})}\n\n"
        await asyncio.sleep(0.05)
    yield ": keep-alive\n\n"
    yield "data: [DONE]\n\n"  # no usage chunk: the client counts the pieces


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[str, Endpoint]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = Endpoint()
    server = uvicorn.Server(
        uvicorn.Config(endpoint.app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in endpoint did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", endpoint
    server.should_exit = True
    thread.join(10)
