"""The gateway's configuration file (YAML), validated at start.

Every key is optional except ``secret``; unknown keys are errors. A wrong key or value raises
:class:`ConfigError` naming the file, the line and the reason, so ``sekimori run`` stops before
it listens on anything.

Durations are seconds or a number with a unit (``30s``, ``10m``, ``2h``, ``5d``); sizes are
bytes or a number with a unit (``512KiB``, ``25MiB``, ``25MB``).

>>> parse_duration("5d"), parse_duration("90s"), parse_duration(1.5)
(432000.0, 90.0, 1.5)
>>> parse_size("25MiB"), parse_size("1k"), parse_size(100)
(26214400, 1000, 100)
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from policies.loader import line_of
from policies.model import normalize_domain
from policies.schema import LINK_EXPIRY_DAYS, MAX_DOWNLOADS_LIMIT


class ConfigError(ValueError):
    """A configuration file problem, with where it is: ``file:line: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number or ``<number><ms|s|m|h|d>``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or e.g. '30s', '10m', '2h', '5d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 2h, 5d)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest way to write a duration as the configuration does.

    >>> format_duration(2592000), format_duration(90), format_duration(1.5)
    ('30d', '90s', '1.5s')
    """
    for unit in ("d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_size(value: object) -> int:
    """Bytes from a number or ``<number><k|KiB|M|MiB|G|GiB>`` (decimal without ``i``)."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or e.g. '25MiB'")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        unit = (m.group(2) or "b").lower().rstrip("b")
        base = 1024 if unit.endswith("i") else 1000
        power = {"": 0, "k": 1, "m": 2, "g": 3}[unit.rstrip("i")]
        size = int(m.group(1)) * base**power
    else:
        raise ValueError(f"not a size: {value!r} (use e.g. 512KiB, 25MiB)")
    if size < 0:
        raise ValueError("a size cannot be negative")
    return size


def _cidr(net: str) -> str:
    try:
        ipaddress.ip_network(net, strict=False)
    except ValueError as exc:
        raise ValueError(f"not a network: {net!r} ({exc})") from None
    return net


Duration = Annotated[float, BeforeValidator(parse_duration)]
Network = Annotated[str, AfterValidator(_cidr)]
Size = Annotated[int, BeforeValidator(parse_size)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    """Certificate for STARTTLS on the listening side."""

    cert: Path
    key: Path
    #: Refuse MAIL before STARTTLS (RFC 3207 s4).
    require: bool = False


class AuthConfig(_Model):
    """SMTP AUTH (only offered over TLS). ``users`` maps a name to a password hash made by
    ``sekimori smtp --hash-password``."""

    users: dict[str, str] = Field(default_factory=dict)

    @field_validator("users")
    @classmethod
    def _hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for name, hashed in v.items():
            if not hashed.startswith("scrypt$") or hashed.count("$") != 5:
                raise ValueError(
                    f"user {name!r}: password must be a hash from 'sekimori smtp --hash-password'"
                )
        return v


class LimitsConfig(_Model):
    max_message_size: Size = 25 * 1024 * 1024
    max_recipients: int = Field(default=100, ge=1)
    #: Whole SMTP session, from connect to quit.
    session_time: Duration = 600.0
    #: Between two commands (RFC 5321 s4.5.3.2.7 suggests 5 minutes).
    idle_time: Duration = 300.0
    #: More ``Received`` headers than this is a routing loop (RFC 5321 s6.3).
    max_hops: int = Field(default=50, ge=5)


class SmtpConfig(_Model):
    host: str = "127.0.0.1"
    port: Port = 10025
    #: Name in the greeting and in our ``Received`` header.
    hostname: str = "sekimori.localdomain"
    #: Clients allowed to relay without AUTH (CIDR). Others must authenticate over TLS.
    networks: list[Network] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    tls: TlsConfig | None = None
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)


class RetryConfig(_Model):
    first: Duration = 60.0
    max_interval: Duration = 3600.0
    #: After this long in the queue a message bounces (DSN to the sender).
    lifetime: Duration = 5 * 86400.0


class UpstreamConfig(_Model):
    host: str = "127.0.0.1"
    port: Port = 10026
    #: ``none``, ``starttls`` (upgrade when offered, required if ``require_tls``) or ``tls`` (implicit).
    tls: Literal["none", "starttls", "tls"] = "none"
    require_tls: bool = False
    username: str | None = None
    password: str | None = None
    concurrency: int = Field(default=8, ge=1, le=256)
    timeout: Duration = 60.0
    retry: RetryConfig = Field(default_factory=RetryConfig)


class UiConfig(_Model):
    base_url: str = "http://127.0.0.1:8025"
    #: ``sekimori run`` serves the quarantine UI here (``sekimori ui --host/--port`` override).
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    #: Cookies carry ``Secure`` (keep it behind a TLS reverse proxy); ``false`` is accepted only
    #: when the UI listens on loopback (the demo over plain HTTP).
    secure_cookies: bool = True
    #: Reverse proxies whose ``X-Forwarded-For`` and single-sign-on header are believed.
    trusted_proxies: list[Network] = Field(default_factory=list)
    #: Request header carrying the signed-in user's address from the reverse proxy (e.g.
    #: ``X-Remote-User``); honoured only from ``trusted_proxies``. Unset: no single sign-on.
    sso_header: str | None = None
    #: TOTP for every account, not only approvers and security admins.
    mfa_for_everyone: bool = False
    #: Language of the pages until a user picks one.
    default_language: Literal["ja", "en"] = "ja"
    #: A session ends after this long without a request, and after ``session_absolute`` anyway.
    session_idle: Duration = 30 * 60.0
    session_absolute: Duration = 12 * 3600.0
    #: How long cancel / send-now / approve links stay valid after the hold or approval ends.
    link_validity: Duration = 7 * 86400.0
    #: What an approver's approve/reject link in a notification needs besides the link: ``mfa``
    #: (a login that passed the second factor, TOTP), ``login`` (any complete login, e.g. single
    #: sign-on whose identity provider asks for a second factor) or ``one_click`` (the link
    #: alone: whoever reads the approver's mail may decide). Senders' own cancel and send-now
    #: links stay one click.
    approval_links: Literal["mfa", "login", "one_click"] = "mfa"

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v.rstrip("/")


#: A classification worker needs about this much address space just to start (measured 97 MB).
MIN_WORKER_MEMORY = 256 << 20


class ScanConfig(_Model):
    #: Classification budget per message; past it the message counts as not fully inspected.
    time: Duration = 10.0
    #: Worker processes for classification (0: a thread in the gateway process; ``auto``: one
    #: less than the CPUs so the event loop keeps a core, but two on a two-core machine: with
    #: one, each scan waits for the previous one while the loop's core idles between
    #: messages; bench_smtp at concurrency 32 measured about +15% throughput with two).
    workers: int | Literal["auto"] = "auto"
    #: At most this many messages may be slow at once (each still running after a moment): each
    #: runs in a worker of its own at the lowest CPU priority while fresh workers serve the rest;
    #: one more is stopped at once and judged on what it found (``auto``: as many as workers).
    slow_slots: int | Literal["auto"] = "auto"
    #: Address space of each classification worker (RLIMIT_AS); ``auto`` sizes it for the
    #: machine: half the memory shared by the workers and slow slots, from 768 MiB to 2 GiB.
    memory: int | Literal["auto"] = "auto"

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 0 <= v <= 64:
            raise ValueError("scan.workers must be 0..64 or auto")
        return v

    @field_validator("slow_slots")
    @classmethod
    def _slow_slots(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 64:
            raise ValueError("scan.slow_slots must be 1..64 or auto")
        return v

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: object) -> object:
        if v == "auto":
            return v
        size = parse_size(v)
        if size < MIN_WORKER_MEMORY:
            raise ValueError(
                f"scan.memory must be at least {MIN_WORKER_MEMORY >> 20}MiB (a worker needs that to start)"
            )
        return size

    @property
    def worker_count(self) -> int:
        if self.workers == "auto":
            cpus = os.cpu_count() or 1
            return 1 if cpus < 2 else max(2, cpus - 1)
        return int(self.workers)

    @property
    def slow_slot_count(self) -> int:
        return max(1, self.worker_count) if self.slow_slots == "auto" else int(self.slow_slots)

    @property
    def memory_bytes(self) -> int:
        """The address-space limit of each classification worker."""
        if self.memory != "auto":
            return int(self.memory)
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            ram = 4 << 30
        share = ram // 2 // (max(1, self.worker_count) + self.slow_slot_count)
        return max(768 << 20, min(2 << 30, share))


class SchedulerConfig(_Model):
    #: How often due holds, retries and approval deadlines are checked.
    interval: Duration = 1.0


class StoreConfig(_Model):
    #: Folder of the embedded store (SQLite database and spool files); the default store.
    path: Path = Path("var")
    #: A Redis server shared by several gateway instances (``redis://host:6379/0``,
    #: ``rediss://`` with TLS, ``unix:///run/redis.sock``); when set it is the store and
    #: ``path`` only keeps the UI's own database. The server must run with ``appendonly yes``
    #: and ``appendfsync always``.
    url: str | None = None
    #: The bodies of finished messages (delivered, bounced, cancelled, rejected, deleted,
    #: refused) are removed this long after they finished, by the scheduler (the records and
    #: their audit trail stay). ``0`` keeps them for ever.
    retention: Duration = 30 * 86400.0

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("store.url must be a redis://, rediss:// or unix:// URL")
        return value

    @property
    def where(self) -> str:
        """The store for log lines: the Redis URL without its password, or the folder."""
        if self.url is None:
            return str(self.path)
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


class PolicyConfig(_Model):
    #: The policy as configured (e.g. the shipped ``policies/default.yaml``); never rewritten.
    path: Path = Path("policies/default.yaml")
    #: How often the policy file is checked for changes.
    reload_interval: Duration = 5.0
    #: Where versions activated from the UI are kept (``v0001.yaml`` … and ``active.yaml``, the
    #: one in force, which takes precedence over ``path``); default ``<store.path>/policies``.
    versions: Path | None = None

    @property
    def active_file(self) -> Path | None:
        """The activated version in force, when one has been activated (see :attr:`versions`)."""
        return self.versions / "active.yaml" if self.versions is not None else None


class NotifyConfig(_Model):
    #: Envelope and header sender of notifications and DSNs.
    sender: str = "postmaster@localhost"
    #: Security team mailbox (quarantine and ``notify_security``).
    security: str | None = None
    #: Send the sender a notification when the Bcc transform rewrote the headers.
    bcc_notice: bool = True


def _link_expiry(seconds: float) -> float:
    low, high = LINK_EXPIRY_DAYS
    if not low * 86400 <= seconds <= high * 86400:
        raise ValueError(f"must be between {low} and {high} days")
    return seconds


def origin(url: str) -> tuple[str, str]:
    """Scheme and authority of an http(s) URL, lower case, with the default port spelt out.

    >>> origin("HTTPS://Dl.Example.jp/x") == origin("https://dl.example.jp:443")
    True
    """
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].lower()
    if ":" not in host.rpartition("]")[2]:
        host += ":443" if scheme.lower() == "https" else ":80"
    return scheme.lower(), host


class LinksConfig(_Model):
    """Attachments as download links (the policy's ``link_attachments``): the download
    listener, which ``sekimori run`` starts next to the relay, and the links' defaults."""

    #: ``sekimori run`` serves the download pages on ``host:port``.
    enabled: bool = True
    #: Where recipients open their links: its own host name, never the UI's (recipients'
    #: firewalls allow it alone; the UI's cookies are never sent there).
    base_url: str = "http://127.0.0.1:8026"
    host: str = "127.0.0.1"
    port: Port = 8026
    #: How long a link stays open unless the rule says otherwise (1 to 93 days).
    expiry: Annotated[Duration, AfterValidator(_link_expiry)] = 7 * 86400.0
    #: Downloads per link (each file fetched counts once).
    max_downloads: int = Field(default=5, ge=1, le=MAX_DOWNLOADS_LIMIT)
    #: Recipients at these domains (and their subdomains) open links without a one-time code:
    #: mailing lists, whose members cannot each receive a code.
    open_domains: list[str] = Field(default_factory=list)
    #: Tell the sender when a recipient first downloads.
    notify_first_download: bool = True
    #: How long a one-time code sent to the recipient can be used.
    code_validity: Duration = 600.0
    #: After five wrong codes in a row, the link does not open for this long.
    lock_time: Duration = 1800.0
    #: Reverse proxies in front of the download listener whose ``X-Forwarded-For`` is believed
    #: (the client address in the audit trail).
    trusted_proxies: list[Network] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError(f"not an http(s) URL: {v!r}")
        return v.rstrip("/")

    @field_validator("open_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        out = []
        for d in v:
            name = normalize_domain(d)
            if not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}", name):
                raise ValueError(f"not a domain: {d!r}")
            out.append(name)
        return out


#: The built-in upload services (one module each under ``gateway/proxy/services``).
ServiceName = Literal["google_drive", "box", "microsoft_graph", "dropbox", "slack"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("google_drive", "box", "microsoft_graph", "dropbox", "slack")
_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def _host_pattern(value: str) -> str:
    from gateway.proxy.hosts import HostPattern  # no import cycle: hosts.py imports nothing of ours

    return str(HostPattern.parse(value))


HostPatternText = Annotated[str, AfterValidator(_host_pattern)]


class ProxyRuleConfig(_Model):
    """A generic upload rule for a host no built-in service covers."""

    #: Shown as the service in verdicts and the audit trail (``service:`` in policies).
    name: str
    hosts: list[HostPatternText] = Field(min_length=1)
    #: Shell patterns over the path without the query (``/backend-api/*``); default: every path.
    paths: list[str] = Field(default_factory=lambda: ["*"])
    methods: list[Literal["POST", "PUT", "PATCH"]] = Field(default_factory=lambda: ["POST", "PUT"])  # type: ignore[arg-type]
    #: How the body is read: ``auto`` by its Content-Type; ``json`` and ``form`` are scanned as
    #: text (their string values); ``multipart`` (form-data files and fields); ``raw`` (the body
    #: is a file).
    body: Literal["auto", "json", "form", "multipart", "raw"] = "auto"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _RULE_NAME.match(v) or v in SERVICE_NAMES:
            raise ValueError(
                f"rule name {v!r}: lower-case letters, digits, '-', '_' or '.', not a built-in service name"
            )
        return v

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.startswith(("/", "*")):
                raise ValueError(f"path pattern {p!r} must start with / or *")
        return v


class ProxyIdentityConfig(_Model):
    """Who is uploading. Tried in this order: ``header`` (from ``trusted_proxies`` only),
    ``basic`` (proxy authentication against the UI's accounts), ``networks``."""

    #: Ask unidentified clients for proxy credentials (407), checked against the UI's accounts.
    #: Credentials are only accepted on loopback connections or over TLS to the proxy.
    basic: bool = False
    #: Request header carrying the user's address, set by an authenticating front proxy.
    header: str | None = None
    #: Front proxies whose ``header`` is believed.
    trusted_proxies: list[Network] = Field(default_factory=list)
    #: Client networks and the person each belongs to (``10.1.2.0/24: taro@example.co.jp``).
    networks: dict[Network, str] = Field(default_factory=dict)
    #: Refuse requests from clients nobody could be identified for (403).
    required: bool = False

    @field_validator("header")
    @classmethod
    def _header(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", v):
            raise ValueError(f"not a header name: {v!r}")
        return v

    @field_validator("networks")
    @classmethod
    def _people(cls, v: dict[str, str]) -> dict[str, str]:
        for net, who in v.items():
            if "@" not in who:
                raise ValueError(f"{net}: {who!r} is not a mail address")
        return v


class MicrosoftTenantsConfig(_Model):
    """Microsoft Entra tenant restrictions (v1 headers, the consumer block, or v2)."""

    #: ``Restrict-Access-To-Tenants``: tenant domains or directory (tenant) IDs users may sign in to.
    tenants: list[str] = Field(default_factory=list)
    #: ``Restrict-Access-Context``: your own directory (tenant) ID.
    context: str | None = None
    #: ``sec-Restrict-Tenant-Access-Policy: restrict-msa`` on ``login.live.com`` (no personal accounts).
    block_consumer: bool = False
    #: Tenant restrictions v2: ``<tenant id>:<policy id>`` for ``sec-Restrict-Tenant-Access-Policy``.
    v2_policy: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> MicrosoftTenantsConfig:
        if bool(self.tenants) != bool(self.context):
            raise ValueError(
                "microsoft: tenants and context go together (Restrict-Access-To-Tenants needs its context)"
            )
        if self.v2_policy is not None and not re.fullmatch(
            r"[0-9a-fA-F-]{36}:[0-9a-fA-F-]{36}", self.v2_policy
        ):
            raise ValueError("microsoft.v2_policy must be '<tenant id>:<policy id>' (two GUIDs)")
        if not (self.tenants or self.block_consumer or self.v2_policy):
            raise ValueError("microsoft: set tenants and context, block_consumer or v2_policy")
        return self


class GoogleTenantsConfig(_Model):
    #: ``X-GoogApps-Allowed-Domains``: Workspace domains users may sign in to
    #: (``consumer_accounts`` lets personal Google accounts in as well).
    domains: list[str] = Field(min_length=1)


class DropboxTenantsConfig(_Model):
    #: ``X-Dropbox-allowed-Team-Ids``: team IDs from the admin console (network control on).
    team_ids: list[str] = Field(min_length=1)


class SlackTenantsConfig(_Model):
    #: ``X-Slack-Allowed-Workspaces-Requester``: your workspace or organisation ID.
    requester: str
    #: ``X-Slack-Allowed-Workspaces``: workspace or organisation IDs users may sign in to.
    workspaces: list[str] = Field(min_length=1)


class TenantRestrictionsConfig(_Model):
    microsoft: MicrosoftTenantsConfig | None = None
    google: GoogleTenantsConfig | None = None
    dropbox: DropboxTenantsConfig | None = None
    slack: SlackTenantsConfig | None = None


class ProxyLimitsConfig(_Model):
    #: Request bodies up to this size are inspected in memory; larger ones (and bodies of
    #: unknown length) spill to the spool, so memory stays bounded.
    memory_body: Size = 4 * 1024 * 1024
    #: Uploads larger than this are not classified: the policy decides on them as not fully
    #: inspected (``truncated: true``), and the verdict says so.
    inspect_max: Size = 100 * 1024 * 1024
    #: An upload session (resumable, chunked) not finished within this time is forgotten and
    #: its spool removed.
    session_ttl: Duration = 24 * 3600.0


_LOOPBACK_AND_PRIVATE = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
]


class PacConfig(_Model):
    """The PAC file the quarantine UI serves at ``/proxy.pac``."""

    #: Send every host through the proxy, not only the services' (with direct egress blocked
    #: at the firewall, nothing else works anyway).
    all_traffic: bool = False
    #: Tell browsers to reach the proxy over TLS (``HTTPS host:port``), as proxy passwords need.
    https: bool = False


class ProxyConfig(_Model):
    """The upload gate: an explicit HTTP(S) proxy (mitmproxy) in front of cloud services."""

    host: str = "127.0.0.1"
    port: Port = 3128
    #: ``host:port`` clients use to reach the proxy (in the PAC file); default ``host:port``.
    public_address: str | None = None
    #: Client addresses allowed to use the proxy; others are disconnected.
    clients: list[Network] = Field(default_factory=lambda: list(_LOOPBACK_AND_PRIVATE))
    #: Folder of the organisation CA (``sekimori ca init``); default ``<store.path>/proxy-ca``.
    ca: Path | None = None
    #: Extra CA certificates (PEM) trusted for origin servers, besides the system's.
    upstream_trust: Path | None = None
    #: Built-in services to inspect.
    services: list[ServiceName] = Field(default_factory=lambda: list(SERVICE_NAMES))
    #: Hosts tunnelled without decryption even if a service or rule names them (pinned clients).
    bypass: list[HostPatternText] = Field(default_factory=list)
    rules: list[ProxyRuleConfig] = Field(default_factory=list)
    identity: ProxyIdentityConfig = Field(default_factory=ProxyIdentityConfig)
    tenant_restrictions: TenantRestrictionsConfig = Field(default_factory=TenantRestrictionsConfig)
    limits: ProxyLimitsConfig = Field(default_factory=ProxyLimitsConfig)
    #: Folder for request bodies and session chunks in flight; default ``<store.path>/uploads``.
    spool: Path | None = None
    #: Keep the content of uploads that passed (default: their name, size and SHA-256 only).
    keep_passed: bool = False
    pac: PacConfig = Field(default_factory=PacConfig)

    @field_validator("public_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", v):
            raise ValueError(f"public_address must be host:port, not {v!r}")
        return v

    @model_validator(mode="after")
    def _unique_rules(self) -> ProxyConfig:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rules: two rules have the same name")
        return self

    @property
    def address(self) -> str:
        """Where clients reach the proxy (the PAC file's ``PROXY`` entry)."""
        return self.public_address or f"{self.host}:{self.port}"


class MetricsConfig(_Model):
    """``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``."""

    #: Serve them on the UI's port.
    on_ui: bool = True
    #: Also serve them on their own address (for ``sekimori smtp`` and ``sekimori proxy``, which
    #: have no UI, or to keep them off the UI's port); unset: no own listener.
    port: Port | None = None
    host: str = "127.0.0.1"
    #: How long a readiness check may wait for the store or the upstream.
    timeout: Duration = 5.0


class LogConfig(_Model):
    #: ``text`` (one line for people, the default) or ``json`` (one object a line, for shippers).
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


class SyslogConfig(_Model):
    host: str
    port: Port = 6514
    #: TLS (RFC 5425) or plain TCP (RFC 6587 octet counting).
    tls: bool = True
    #: CA bundle the collector's certificate must chain to (default: the system's).
    ca: Path | None = None
    #: Facility of the messages (RFC 5424 s6.2.1): ``auth``, ``authpriv``, ``local0`` … ``local7``.
    facility: Literal[
        "auth",
        "authpriv",
        "daemon",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ] = "local0"
    app_name: str = Field(default="sekimori", pattern=r"^[!-~]{1,48}$")


class SiemConfig(_Model):
    """Audit events forwarded as they happen: to a syslog collector and/or a JSON lines file."""

    syslog: SyslogConfig | None = None
    #: A file that log shippers tail: one event a line (the export schema), appended and flushed.
    jsonl: Path | None = None
    #: Where the forwarder remembers the last event sent (default ``<store.path>/siem.cursor``).
    cursor: Path | None = None


class Config(_Model):
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    links: LinksConfig = Field(default_factory=LinksConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    siem: SiemConfig = Field(default_factory=SiemConfig)
    #: The upload gate; without this section no proxy runs.
    proxy: ProxyConfig | None = None
    #: Key for HMAC signatures (loop-protection header, links). At least 32 characters;
    #: ``env:NAME`` reads it from an environment variable.
    secret: str

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v.startswith("env:"):
            name = v[4:]
            value = os.environ.get(name)
            if value is None:
                raise ValueError(f"environment variable {name} is not set")
            v = value
        if len(v) < 32:
            raise ValueError("secret must be at least 32 characters")
        return v

    @property
    def secret_bytes(self) -> bytes:
        return self.secret.encode("utf-8")


def load_config(path: str | os.PathLike[str], *, base: Path | None = None) -> Config:
    """Read and validate a configuration file. Relative paths in it are resolved against
    ``base`` (default: the current directory, as ``make run`` runs from the repository root)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(name, None, "not UTF-8 text") from None
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise ConfigError(name, line, f"YAML syntax: {exc.problem}") from None
    if not isinstance(tree, CommentedMap):
        raise ConfigError(name, 1, "the file must be a mapping of sections (smtp:, upstream:, ...)")
    try:
        config = Config.model_validate(_plain(tree))
    except ValidationError as exc:
        # A misspelt key (``secrte:``) is reported as unknown, on its own line, before the
        # required key it was meant to be (``secret``) is reported missing.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(name, line_of(tree, loc), f"{dotted}: {msg}") from None
    config = _resolve(config, base or Path.cwd())
    tls = config.smtp.tls
    if tls is not None:
        for key, file in (("cert", tls.cert), ("key", tls.key)):
            if not file.is_file():
                raise ConfigError(
                    name, line_of(tree, ("smtp", "tls", key)), f"smtp.tls.{key}: no such file: {file}"
                )
    if tls is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert, tls.key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                name,
                line_of(tree, ("smtp", "tls", "cert")),
                f"smtp.tls: cannot load {tls.cert} with {tls.key} as a PEM certificate chain and its key"
                f" ({getattr(exc, 'reason', None) or exc})",
            ) from None
    if origin(config.links.base_url) == origin(config.ui.base_url):
        raise ConfigError(
            name,
            line_of(tree, ("links", "base_url")),
            "links.base_url: the download pages need their own address, not the UI's (ui.base_url)",
        )
    links = config.links
    if links.enabled and config.ui.enabled and (links.host, links.port) == (config.ui.host, config.ui.port):
        raise ConfigError(
            name,
            line_of(tree, ("links", "port")),
            "links.port: the download listener cannot share the UI's port",
        )
    if config.smtp.auth.users and tls is None:
        raise ConfigError(
            name, line_of(tree, ("smtp", "auth")), "smtp.auth: AUTH needs smtp.tls (passwords only over TLS)"
        )
    proxy = config.proxy
    if proxy is not None:
        if proxy.upstream_trust is not None and not proxy.upstream_trust.is_file():
            raise ConfigError(
                name,
                line_of(tree, ("proxy", "upstream_trust")),
                f"proxy.upstream_trust: no such file: {proxy.upstream_trust}",
            )
        if proxy.identity.header is not None and not proxy.identity.trusted_proxies:
            raise ConfigError(
                name,
                line_of(tree, ("proxy", "identity", "header")),
                "proxy.identity.header: needs proxy.identity.trusted_proxies (the header is believed only from them)",
            )
    return config


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    return node


def _resolve(config: Config, base: Path) -> Config:
    def abs_(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    smtp = config.smtp
    if smtp.tls is not None:
        smtp = smtp.model_copy(
            update={
                "tls": smtp.tls.model_copy(update={"cert": abs_(smtp.tls.cert), "key": abs_(smtp.tls.key)})
            }
        )
    store = config.store.model_copy(update={"path": abs_(config.store.path)})
    proxy = config.proxy
    if proxy is not None:
        proxy = proxy.model_copy(
            update={
                "ca": abs_(proxy.ca) if proxy.ca is not None else store.path / "proxy-ca",
                "spool": abs_(proxy.spool) if proxy.spool is not None else store.path / "uploads",
                "upstream_trust": abs_(proxy.upstream_trust) if proxy.upstream_trust is not None else None,
            }
        )
    siem = config.siem
    siem = siem.model_copy(
        update={
            "jsonl": abs_(siem.jsonl) if siem.jsonl is not None else None,
            "cursor": abs_(siem.cursor) if siem.cursor is not None else store.path / "siem.cursor",
            "syslog": siem.syslog.model_copy(
                update={"ca": abs_(siem.syslog.ca) if siem.syslog.ca is not None else None}
            )
            if siem.syslog is not None
            else None,
        }
    )
    return config.model_copy(
        update={
            "siem": siem,
            "smtp": smtp,
            "store": store,
            "policy": config.policy.model_copy(
                update={
                    "path": abs_(config.policy.path),
                    "versions": abs_(config.policy.versions)
                    if config.policy.versions is not None
                    else store.path / "policies",
                }
            ),
            "proxy": proxy,
        }
    )
