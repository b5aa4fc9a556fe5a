"""Slow clients cannot starve the receiver: header and body read deadlines, a connection cap (issue 18 item 3).

uvicorn (the server the console script runs) has neither: a connection that trickles header
lines is held forever, and with 1,024 open files 1,100 such connections made every other
request fail (accept() hit EMFILE). ``guarded_protocol`` returns uvicorn's h11 protocol class
with three additions, passed to uvicorn as ``http=`` (docs/RECEIVER.md says why uvicorn):

* **header deadline**: a request whose headers are not complete ``header_timeout_s`` after the
  connection opened (or after the previous response, on a kept-alive connection) is answered 408
  and closed, however slowly its bytes keep coming;
* **body deadline**: while a body is read, ``body_timeout_s`` without a byte, or an average under
  ``BODY_MIN_RATE`` bytes/s once the body has taken ``body_timeout_s``, closes the connection (while the
  server itself stops reading for flow control, neither is checked);
* **connection cap** below the open-file limit (``connection_cap``): at the cap a new connection
  closes the connection that has waited longest for its headers (a slow-loris one: a normal
  client sends its headers at once), so normal clients keep being served during an attack; if
  none is waiting (every connection busy with a real request), the new one is refused with 503
  at once.

h11 also bounds the header size (``h11_max_incomplete_event_size``, 16 KiB by default), so a
waiting connection holds little memory.
"""

import asyncio
import logging
import resource
import time
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

# File descriptors kept free for everything but sockets: the thread pool's spool, data and manifest
# files, locks, log files, the listening socket. The cap leaves these so accept() never hits EMFILE.
FD_RESERVE = 128
# A body trickled slower than this on average (1 byte a minute keeps no idle timer from firing) is
# closed: 1 KiB/s is 1,000x below any link a cluster pushes over, and a 256 MiB body would take 3 days.
BODY_MIN_RATE = 1024
_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True)
class GuardLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


def connection_cap(requested: int, reserve: int = FD_RESERVE) -> int:
    """``requested``, but at most the soft open-file limit minus ``reserve`` (at least 1)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max(1, requested)
    return max(1, min(requested, soft - reserve))


class _Counts:
    """What the guard did, warned about at most once a minute (an attack must not flood the log)."""

    def __init__(self):
        self.counts = {"header timeouts": 0, "body timeouts": 0, "shed": 0, "refused": 0}
        self.last_warning = 0.0

    def note(self, what: str) -> None:
        self.counts[what] += 1
        now = time.monotonic()
        if now - self.last_warning >= 60:
            self.last_warning = now
            log.warning("slow or excess connections: %s so far", ", ".join(f"{n} {k}" for k, n in self.counts.items()))


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's H11Protocol with header/body deadlines and a connection cap; ``guarded_protocol`` makes one
    subclass per server holding its limits and connection books (class attributes, shared by its connections)."""

    _guard_limits: GuardLimits
    _guard_waiting: dict  # connections waiting for request headers, oldest first (dicts keep insertion order)
    _guard_closing: set  # closed by the guard, connection_lost not yet called (still in server_state)
    _guard_counts: "_Counts"
    _refused = False
    _deadline: asyncio.TimerHandle | None = None
    _last_byte = 0.0
    _body_start = 0.0
    _body_bytes = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        if len(self.server_state.connections) - len(self._guard_closing) >= self._guard_limits.max_connections:
            oldest = next(iter(self._guard_waiting), None)
            if oldest is None:
                self._refused = True
                self._guard_counts.note("refused")
                transport.write(_REFUSED)
                transport.close()
                return
            self._guard_counts.note("shed")
            oldest._close(None)
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc) -> None:
        if self._refused:
            return
        self._stop()
        self._guard_waiting.pop(self, None)
        self._guard_closing.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_byte = self.loop.time()
        self._body_bytes += len(data)
        super().data_received(data)
        if self in self._guard_waiting and self.conn.their_state is not h11.IDLE:
            self._guard_waiting.pop(self)  # headers complete
            self._stop()
            if self.conn.their_state is h11.SEND_BODY:
                self._body_start, self._body_bytes = self._last_byte, 0
                self._arm(self._guard_limits.body_timeout_s, self._body_deadline)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._stop()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_headers()  # kept alive: the next request's headers have the same deadline

    def _await_headers(self) -> None:
        self._guard_waiting[self] = None
        self._arm(self._guard_limits.header_timeout_s, self._header_deadline)

    def _arm(self, delay: float, callback) -> None:
        self._stop()
        self._deadline = self.loop.call_later(delay, callback)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _header_deadline(self) -> None:
        self._deadline = None
        if self in self._guard_waiting:
            self._guard_counts.note("header timeouts")
            self._close(_TIMED_OUT)

    def _body_deadline(self) -> None:
        self._deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        now = self.loop.time()
        idle = now - self._last_byte
        slow = self._body_bytes < BODY_MIN_RATE * (now - self._body_start)
        if self.flow.read_paused or (idle < self._guard_limits.body_timeout_s and not slow):
            # The app is behind (reading paused by flow control) or bytes come fast enough: check again later.
            wait = self._guard_limits.body_timeout_s - (0 if self.flow.read_paused else idle)
            self._arm(max(wait, 1.0), self._body_deadline)
            return
        self._guard_counts.note("body timeouts")
        self._close(None)  # the app sees a disconnect; its spool file is removed

    def _close(self, answer: bytes | None) -> None:
        self._guard_waiting.pop(self, None)
        self._stop()
        if not self.transport.is_closing():
            self._guard_closing.add(self)
            if answer:
                self.transport.write(answer)
            self.transport.close()


def guarded_protocol(limits: GuardLimits) -> type:
    """A subclass of uvicorn's H11Protocol enforcing ``limits`` (one per server)."""
    return type(
        "GuardedH11Protocol",
        (_GuardedH11Protocol,),
        {"_guard_limits": limits, "_guard_waiting": {}, "_guard_closing": set(), "_guard_counts": _Counts()},
    )
