"""The objects one UI instance is made of, kept together on ``app.state.ui``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from gateway.store import Store
from policies import PolicyHolder
from quarantine_ui.accounts import Accounts, AuditSink
from quarantine_ui.config import UIConfig
from quarantine_ui.db import Database
from quarantine_ui.errors import UIError
from quarantine_ui.links import ActionLinks, LinkSigner
from quarantine_ui.mailroom import Mailroom, Notifications
from quarantine_ui.policy_admin import ACTIVE_NAME, PolicyAdmin
from quarantine_ui.sessions import SessionStore

LANG_COOKIE = "sekimori_lang"


@dataclass
class UI:
    config: UIConfig
    db: Database
    accounts: Accounts
    sessions: SessionStore
    links: ActionLinks
    templates: Jinja2Templates
    #: Mail pages and actions over the gateway store; None when the UI runs without a store.
    mailroom: Mailroom | None = None
    #: The policy page; None unless the active policy file is known.
    policy_admin: PolicyAdmin | None = None
    #: Where account events go (the audit trail of the store, when the UI has one).
    audit: AuditSink | None = None

    @classmethod
    def build(
        cls,
        config: UIConfig,
        templates: Jinja2Templates,
        store: Store | None = None,
        audit: AuditSink | None = None,
        *,
        policy_path: Path | None = None,
        policy_versions: Path | None = None,
        notifier: Notifications | None = None,
        on_policy_change: Callable[[], None] | None = None,
    ) -> UI:
        db = Database(config.db_path)
        signer = LinkSigner(config.secret, config.clock)
        mailroom = admin = None
        if store is not None:
            versions = policy_versions or config.var_dir / "policies"
            holder = (
                PolicyHolder(policy_path, override=versions / ACTIVE_NAME)
                if policy_path is not None
                else None
            )
            mailroom = Mailroom(store, db, clock=config.clock, policy=holder, notifier=notifier)
            if policy_path is not None:
                admin = PolicyAdmin(policy_path, versions, store, config.clock, on_policy_change)
        return cls(
            config=config,
            db=db,
            accounts=Accounts(db, config, audit),
            sessions=SessionStore(db, config),
            links=ActionLinks(signer, db, config.clock),
            templates=templates,
            mailroom=mailroom,
            policy_admin=admin,
            audit=audit,
        )

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        return "__Host-sekimori_session" if self.config.secure_cookies else "sekimori_session"


def get_ui(request: Request) -> UI:
    ui: UI = request.app.state.ui
    return ui


def mailroom(request: Request) -> Mailroom:
    """The mail pages' access rules and actions (503 when the UI runs without a store)."""
    room = get_ui(request).mailroom
    if room is None:
        raise UIError(503, "no_store")
    return room


def policy_admin(request: Request) -> PolicyAdmin:
    admin = get_ui(request).policy_admin
    if admin is None:
        raise UIError(503, "no_policy")
    return admin
