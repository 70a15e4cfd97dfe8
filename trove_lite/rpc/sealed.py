"""Sealed guest RPC: every message between the control plane and a guest is
encrypted and authenticated with that instance's own key.

A wrapper around oslo.messaging, below the RPC client APIs: ``GuestAPI`` and
``ConductorAPI`` hand their calls to a ``SealedClient`` and the guest's and the
conductor's RPC servers dispatch through a ``SealedEndpoint``; a method added to
either API or manager is sealed without any change here.

- **Key**: ``instance_key(master, instance_id)``, HKDF-SHA256 of the control
  plane's master secret (``common.master_key.load_master``) with the instance id, so
  the control plane stores nothing new and one guest's key tells nothing about
  another's. The taskmanager injects it at boot in the guest's config
  (``[guest] rpc_key`` in the injected ``guest.conf``, Nova's file injection
  or the local driver's root), never on the bus or the command line.
- **On the bus** a message is ``method(ctxt={}, instance_id=ID, sealed=TOKEN)``:
  ``TOKEN`` is a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
  of ``{"to", "instance_id", "method", "ctxt", "args"}``; a reply is sealed the
  same way (``"to": "reply"``). The method name stays in clear (oslo.messaging
  routes on it) and must equal the sealed one.
- **Refused, and logged** (``SealRefused``): a message that is not sealed, whose
  token does not authenticate under the key of the instance it names (a forgery,
  or a guest speaking for another instance), that names another recipient or
  method, that is older than ``[guest] rpc_message_window`` (Fernet's
  timestamp), or whose token was already accepted within that window (a
  replay; a guest keeps that record in a file of its work directory, so a
  restarted agent refuses a replay too). The conductor takes the key from the
  clear ``instance_id`` and then requires the sealed ``args.instance_id`` to be
  the same, so a guest can report for its own instance only.
"""

import base64
import collections
import functools
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trove_lite.common import master_key
from trove_lite.exceptions import TroveLiteError

LOG = logging.getLogger(__name__)
HKDF_SALT = b"trove-lite guest rpc v1"
TO_GUEST = "guest"
TO_CONDUCTOR = "conductor"
TO_REPLY = "reply"


class SealRefused(TroveLiteError):
    http_status = 403
    code = "rpc_message_refused"
    message_format = "RPC message refused: %(reason)s"


def instance_key(master: bytes, instance_id: str) -> bytes:
    """The instance's own Fernet key (URL-safe base64 text of 32 bytes)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT,
               info=instance_id.encode()).derive(master)
    return base64.urlsafe_b64encode(raw)


class ReplayGuard:
    """Digests of the tokens accepted that are still inside the window.

    A token stays replayable while Fernet would still accept it: until its own
    timestamp plus ``window``. With ``path`` (a guest: a file in its work
    directory) each accepted digest is appended there before the message acts,
    and a new process loads the live ones, so a message captured on the bus
    cannot be replayed to a freshly restarted agent either. The file is
    compacted when it holds twice the live digests. It is not fsynced: it
    covers an agent's restart; a crash of the whole server may lose the last
    digests written before it.
    """

    def __init__(self, window: float, path: str | None = None):
        self.window = window
        self.path = path
        self._seen: dict[bytes, float] = {}
        self._order: collections.deque = collections.deque()    # (until, digest)
        self._lock = threading.Lock()
        self._appended = 0
        if path:
            self._load()

    def _expire(self, now: float) -> None:
        # tokens arrive in about the order of their timestamps: the oldest are first
        while self._order and self._order[0][0] < now:
            del self._seen[self._order.popleft()[1]]

    def first_time(self, token: bytes) -> bool:
        digest = hashlib.sha256(token).digest()
        now = time.time()
        until = _token_time(token) + self.window
        with self._lock:
            self._expire(now)
            if digest in self._seen:
                return False
            self._seen[digest] = until
            self._order.append((until, digest))
            if self.path:
                self._append(digest, until)
            return True

    # -- persistence (a guest's record outlives its process) -------------------------
    def _load(self) -> None:
        assert self.path is not None
        try:
            with open(self.path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            lines = []
        now = time.time()
        for line in lines:
            try:
                digest, until = line.split()
                if float(until) >= now:
                    self._seen[bytes.fromhex(digest)] = float(until)
            except ValueError:      # a torn last line: the process died writing it
                continue
        self._order.extend(sorted((u, d) for d, u in self._seen.items()))
        self._compact()

    def _append(self, digest: bytes, until: float) -> None:
        assert self.path is not None
        if self._appended > 2 * len(self._seen) + 64:
            self._compact()
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"%s %.3f\n" % (digest.hex().encode(), until))
        finally:
            os.close(fd)
        self._appended += 1

    def _compact(self) -> None:
        assert self.path is not None
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join("%s %.3f\n" % (d.hex(), u)
                                 for d, u in self._seen.items()).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._appended = len(self._seen)


def _token_time(token: bytes) -> float:
    """A Fernet token's own timestamp (seconds; the sender's clock)."""
    try:
        raw = base64.urlsafe_b64decode(token)
        return float(int.from_bytes(raw[1:9], "big"))
    except (ValueError, TypeError):
        return time.time()


@functools.lru_cache(maxsize=65536)
def _fernet(key: bytes) -> Fernet:
    """One Fernet per key (the conductor opens every instance's messages)."""
    return Fernet(key)


def seal(key: bytes, to: str, instance_id: str, method: str, args: Any,
         ctxt: dict | None = None) -> str:
    envelope = {"to": to, "instance_id": instance_id, "method": method,
                "ctxt": ctxt or {}, "args": args}
    return _fernet(key).encrypt(json.dumps(envelope, default=str).encode()).decode()


def unseal(key: bytes, token: Any, window: float, guard: ReplayGuard | None,
           to: str, instance_id: str, method: str) -> dict:
    """The envelope of ``token``; SealRefused (nothing logged) if it may not be used."""
    if not isinstance(token, str):
        raise SealRefused(reason="the message is not sealed")
    raw = token.encode()
    try:
        envelope = json.loads(_fernet(key).decrypt(raw, ttl=int(window)))
    except InvalidToken:
        raise SealRefused(reason="the seal does not verify under instance %s's key, "
                                 "or the message is older than %d s" % (instance_id, window)
                          ) from None
    if (envelope.get("to"), envelope.get("instance_id"), envelope.get("method")) != (
            to, instance_id, method):
        raise SealRefused(reason="the message was sealed for %s/%s/%s, not %s/%s/%s" % (
            envelope.get("to"), envelope.get("instance_id"), envelope.get("method"),
            to, instance_id, method))
    if guard is not None and not guard.first_time(raw):
        raise SealRefused(reason="the message was already received (replay)")
    return envelope


class SealedClient:
    """An oslo.messaging RPCClient (or a prepared one) whose messages to ``to``
    are sealed under the key of ``instance_id``; replies are opened."""

    def __init__(self, client: Any, key: bytes, instance_id: str, to: str,
                 window: float) -> None:
        self._client = client
        self._key = key
        self._instance_id = instance_id
        self._to = to
        self._window = window

    def prepare(self, **options: Any) -> "SealedClient":
        return SealedClient(self._client.prepare(**options), self._key, self._instance_id,
                            self._to, self._window)

    def _wire(self, ctxt: dict, method: str, kwargs: dict) -> dict:
        return {"instance_id": self._instance_id,
                "sealed": seal(self._key, self._to, self._instance_id, method, kwargs, ctxt)}

    def cast(self, ctxt: dict, method: str, **kwargs: Any) -> None:
        self._client.cast({}, method, **self._wire(ctxt, method, kwargs))

    def call(self, ctxt: dict, method: str, **kwargs: Any) -> Any:
        reply = self._client.call({}, method, **self._wire(ctxt, method, kwargs))
        token = reply.get("sealed") if isinstance(reply, dict) else None
        try:
            return unseal(self._key, token, self._window, None, TO_REPLY,
                          self._instance_id, method)["args"]
        except SealRefused as e:
            LOG.warning("reply of %s from instance %s refused: %s", method,
                        self._instance_id, e.message)
            raise


class SealedEndpoint:
    """Dispatches sealed messages to ``endpoint``'s methods.

    ``key_for(instance_id)`` gives the key of the instance a message names (a
    guest: its own key, and None for any other instance; the conductor: any
    instance's). The method gets the sealed ``ctxt`` and ``args`` only.
    """

    def __init__(self, endpoint: object, key_for: Callable[[str], bytes | None], to: str,
                 window: float, seen_path: str | None = None,
                 replies: bool | Collection[str] = True) -> None:
        """``seen_path``: the file that keeps the replay record across restarts;
        ``replies``: True if any method may be called; False if every method is a
        cast, so no result is sealed (nobody would read it); or the names of the
        only methods that are calls (the conductor's: sealing a reply to each
        heartbeat would cost its core for nothing)."""
        self._endpoint = endpoint
        self._replies = replies
        self._key_for = key_for
        self._to = to
        self._window = window
        self._guard = ReplayGuard(window, seen_path)
        self.refused = 0

    @property
    def target(self) -> messaging.Target | None:
        return getattr(self._endpoint, "target", None)

    def __getattr__(self, method: str) -> Callable[..., dict | None]:
        if method.startswith("_"):
            raise AttributeError(method)
        func = getattr(self._endpoint, method)  # AttributeError: oslo's NoSuchMethod
        if not callable(func):
            raise AttributeError(method)

        def dispatch(_ctxt: dict, instance_id: Any = None, sealed: Any = None,
                     **clear: Any) -> dict | None:
            try:
                envelope = self._open(method, instance_id, sealed, clear)
            except SealRefused:
                # logged once by _open; the caller gets a RemoteError, and oslo
                # logs no traceback for an expected exception
                raise messaging.ExpectedException() from None
            result = func(envelope["ctxt"], **envelope["args"])
            if not (self._replies is True or (self._replies and method in self._replies)):
                return None
            key = self._key_for(instance_id)
            assert key is not None   # _open refused a message with no key here
            return {"sealed": seal(key, TO_REPLY, instance_id, method,
                                   result)}
        return dispatch

    def _open(self, method: str, instance_id: Any, token: Any, clear: dict) -> dict:
        try:
            if clear:
                raise SealRefused(reason="clear arguments %s beside the seal" % sorted(clear))
            key = self._key_for(instance_id) if isinstance(instance_id, str) else None
            if key is None:
                raise SealRefused(reason="no key for instance %r here" % (instance_id,))
            envelope = unseal(key, token, self._window, self._guard, self._to, instance_id,
                              method)
            args = envelope.get("args")
            if not isinstance(args, dict):
                raise SealRefused(reason="the sealed arguments are not a mapping")
            if self._to == TO_CONDUCTOR and args.get("instance_id") != instance_id:
                raise SealRefused(reason="instance %s may not report for instance %s" % (
                    instance_id, args.get("instance_id")))
            return envelope
        except SealRefused as e:
            self.refused += 1
            LOG.warning("refused %s message %s for instance %s: %s", self._to, method,
                        instance_id, e.message)
            raise


def window_of(conf: cfg.ConfigOpts) -> float:
    return float(conf.guest.rpc_message_window)


def control_key_for(conf: cfg.ConfigOpts) -> Callable[[str], bytes]:
    """The control plane's key lookup: any instance's key, from the master secret."""
    master = master_key.load_master(conf)
    cache = {}

    def key_for(instance_id: str) -> bytes:
        if instance_id not in cache:
            cache[instance_id] = instance_key(master, instance_id)
        return cache[instance_id]
    return key_for


def guest_key_for(conf: cfg.ConfigOpts) -> Callable[[str], bytes | None]:
    """A guest's key lookup: its own key for its own instance, nothing else."""
    own_id, key = conf.guest.instance_id, (conf.guest.rpc_key or "").encode()
    if not key:
        raise SealRefused(reason="this guest has no [guest] rpc_key: it cannot talk to "
                                 "the control plane")
    return lambda instance_id: key if instance_id == own_id else None
