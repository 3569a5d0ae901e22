"""A headless Chromium driven through the DevTools protocol over a pipe, with no dependency beyond the standard
library: Chromium started with `--remote-debugging-pipe` reads commands on fd 3 and writes replies and events on
fd 4, each message one JSON object ended by a NUL byte.

Every wait has a timeout, so a hung browser fails a test instead of blocking it. Each page collects what would
show as an error in DevTools: uncaught exceptions, `console.error` calls and error log entries.

Example:
    with Browser(chromium_path, tmp_path / "profile") as browser:
        page = browser.open(Path("report.html").as_uri(), width=1400, height=900)
        page.wait_for("document.documentElement.dataset.ready === '1'")
        assert page.evaluate("document.title") == "peft-efficiency comparison" and not page.errors
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]
TIMEOUT_SECONDS = 30.0


class BrowserError(RuntimeError):
    """A protocol error reply, a JavaScript exception in an evaluated expression, or a timeout."""


class Browser:
    """One Chromium process and its protocol connection; `open` gives a `Page` per tab."""

    def __init__(self, executable: str, profile: Path, timeout: float = TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # moved above 4 first, so that putting them on fds 3 and 4 in the child cannot overwrite one another
        low = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, replies_write)]
        for fd in (commands_read, replies_write):
            os.close(fd)

        def child_fds() -> None:  # in the child, before exec: the pipe ends Chromium expects
            os.dup2(low[0], 3)
            os.dup2(low[1], 4)

        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=child_fds)
        for fd in low:
            os.close(fd)
        self._next_id = 0
        self._replies_by_id: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._changed:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies_by_id[message["id"]] = message
                    else:
                        self.events.append(message)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply's result."""
        with self._changed:
            self._next_id += 1
            number = self._next_id
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda: self._replies_by_id.pop(number, None), f"a reply to {method}")
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait(self, ready, what: str, timeout: float | None = None):
        """Wait until `ready()` (called under the lock) returns something truthy; return it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._changed:
            while True:
                found = ready()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise BrowserError(f"no {what} within {timeout or self.timeout:.0f} s"
                                       + ("" if self._reader.is_alive() else " (the browser closed its pipe)"))
                self._changed.wait(min(left, 0.5))

    def open(self, url: str, width: int = 1400, height: int = 900) -> "Page":
        """A new tab of `width` x `height` CSS pixels with Runtime, Log and Page events on, at `url` (loaded)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        page.navigate(url)
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab, attached in flat mode: commands carry its session id."""

    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def close(self) -> None:
        """Close the tab."""
        self.browser.send("Target.closeTarget", {"targetId": self.target})

    def _mine(self) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]

    def navigate(self, url: str) -> None:
        """Go to `url` and wait for its load event."""
        with self.browser._changed:
            start = len(self._mine())
        self.send("Page.navigate", {"url": url})
        self.browser.wait(lambda: any(e["method"] == "Page.loadEventFired" for e in self._mine()[start:]),
                          f"load event of {url}")

    @property
    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and error log entries of this tab so far."""
        found = []
        with self.browser._changed:
            events = self._mine()
        for event in events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif event["method"] == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); a thrown exception raises `BrowserError`."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + (timeout or self.browser.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression!r} still falsy after {timeout or self.browser.timeout:.0f} s")
            time.sleep(0.05)

    def center(self, selector: str) -> tuple[float, float]:
        """Scroll the first element matching `selector` into view; its centre in viewport pixels."""
        box = self.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: 'center', inline: 'center'}}); const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        return box[0], box[1]

    def mouse(self, kind: str, x: float, y: float, clicks: int = 0) -> None:
        params = {"type": kind, "x": x, "y": y}
        if clicks:
            params.update(button="left", buttons=1 if kind == "mousePressed" else 0, clickCount=clicks)
        self.send("Input.dispatchMouseEvent", params)

    def hover(self, selector: str) -> None:
        """Move the mouse onto the element's centre (a real pointer event)."""
        self.mouse("mouseMoved", *self.center(selector))

    def click(self, selector: str) -> None:
        """Press and release the left button on the element's centre."""
        x, y = self.center(selector)
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, clicks=1)
        self.mouse("mouseReleased", x, y, clicks=1)

    def type_text(self, selector: str, text: str) -> None:
        """Focus the element and type `text` as keyboard input (fires input events)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", {"text": text})
