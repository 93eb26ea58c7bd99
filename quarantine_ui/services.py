"""The objects one UI instance is made of, kept together on ``app.state.ui``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from quarantine_ui.accounts import Accounts, AuditSink
from quarantine_ui.actions import MessageActions
from quarantine_ui.config import UIConfig
from quarantine_ui.db import Database
from quarantine_ui.links import ActionLinks, LinkSigner
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
    #: The message store's held-mail actions; None until the store is wired in.
    actions: MessageActions | None = None

    @classmethod
    def build(
        cls,
        config: UIConfig,
        templates: Jinja2Templates,
        actions: MessageActions | None = None,
        audit: AuditSink | None = None,
    ) -> UI:
        db = Database(config.db_path)
        signer = LinkSigner(config.secret, config.clock)
        return cls(
            config=config,
            db=db,
            accounts=Accounts(db, config, audit),
            sessions=SessionStore(db, config),
            links=ActionLinks(signer, db, config.clock),
            templates=templates,
            actions=actions,
        )

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
        return "__Host-sekimori_session" if self.config.secure_cookies else "sekimori_session"


def get_ui(request: Request) -> UI:
    ui: UI = request.app.state.ui
    return ui
