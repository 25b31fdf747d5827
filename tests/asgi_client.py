"""Drive the real ASGI application in-process: each client is a coroutine, not a thread, so a
test can hold hundreds of live streams open at once and read them as they arrive."""

import asyncio
import re
import threading

from django.test import Client


def run(coroutine):
    """asyncio.run, also when this thread already runs a loop (Playwright's sync API does, for
    the rest of the session, once a browser test has run): then the loop runs in one helper
    thread. Either way every client of the scenario is a coroutine of that one loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


class Response:
    def __init__(self, task: asyncio.Task, messages: asyncio.Queue, disconnect: asyncio.Event):
        self.task = task
        self.messages = messages
        self.disconnect = disconnect
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.text = ""
        self.ended = False

    async def start(self, timeout: float = 10) -> int:
        while self.status is None:
            message = await asyncio.wait_for(self.messages.get(), timeout)
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        return self.status

    async def read_until(self, text: str, timeout: float = 10) -> str:
        """Read the body until ``text`` has arrived (or the response ended)."""
        await self.start(timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.text and not self.ended:
            message = await asyncio.wait_for(self.messages.get(), deadline - loop.time())
            if message["type"] == "http.response.body":
                self.text += message.get("body", b"").decode()
                self.ended = not message.get("more_body", False)
        return self.text

    async def opened(self, timeout: float = 10) -> str:
        """Read until the stream's first id line: from then on it is listening."""
        await self.start(timeout)
        while not re.search(r"^id: \S+\n", self.text, re.M) and not self.ended:
            message = await asyncio.wait_for(self.messages.get(), timeout)
            if message["type"] == "http.response.body":
                self.text += message.get("body", b"").decode()
                self.ended = not message.get("more_body", False)
        return self.text

    async def read_to_end(self, timeout: float = 10) -> str:
        return await self.read_until("\0never\0", timeout)

    async def close(self) -> None:
        """The browser goes away."""
        self.disconnect.set()
        await asyncio.wait_for(self.task, 10)


def get(app, path: str, *, cookie: str = "", headers: dict[str, str] | None = None) -> Response:
    """Start a GET; returns at once with the response that streams in."""
    raw_headers = [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    disconnect = asyncio.Event()
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    messages: asyncio.Queue = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(app(scope, receive, messages.put))
    return Response(task, messages, disconnect)
