"""Who may change the model list over the network (`--model_management`): TF Serving's
HandleReloadConfigRequest and the Open Inference Protocol's repository extension (load, unload) alike.

ModelService.HandleReloadConfigRequest replaces the server's whole model list: one call naming a bogus
model unloads every real one. The official server takes it from any client that reaches the port; here
that stays the default (`on`), and `loopback` keeps it to clients on this host's (or pod's) loopback and
the UNIX socket (`--grpc_socket_path`, guarded by its file permissions), `off` refuses it outright.
Model status and prediction are not affected; a --model_config_file polled for changes still applies.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import unquote

from serving.errors import Code, ServingError

MODES = ("on", "loopback", "off")
log = logging.getLogger("serving")


def is_loopback_peer(peer: str) -> bool:
    """A gRPC peer (`ipv4:127.0.0.1:5000`, `ipv6:%5B::1%5D:5000` as gRPC writes `[::1]`, a v4-mapped
    `[::ffff:127.0.0.1]`, `unix:/run/tfs.sock`) on this host's loopback or a UNIX domain socket."""
    kind, _, address = peer.partition(":")
    if kind == "unix":
        return True
    if kind not in ("ipv4", "ipv6"):
        return False
    host = unquote(address).rsplit(":", 1)[0].removeprefix("[").removesuffix("]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:  # a scoped IPv6 address (fe80::1%25eth0) and anything unexpected: not loopback
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def check_reload_allowed(mode: str, peer: str, what: str = "HandleReloadConfigRequest") -> None:
    """Raises PERMISSION_DENIED unless `mode` lets `peer` change the model list through `what`."""
    if mode == "on" or (mode == "loopback" and is_loopback_peer(peer)):
        return
    log.warning("Refused %s from %s (--model_management=%s)", what, peer, mode)
    if mode == "off":
        reason = "this server does not take it (--model_management=off): change its --model_config_file instead"
    else:
        reason = f"this server takes it only from loopback (--model_management=loopback), not from {peer}"
    raise ServingError(Code.PERMISSION_DENIED, f"{what} refused: {reason}")
