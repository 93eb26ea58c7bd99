"""The UI by what a person does: one module per feature, each with its pages and its JSON API
together and a ``ROUTES`` list that :func:`quarantine_ui.app.create_app` mounts.

- :mod:`.accounts`: logging in (password, second factor, enrolment), home, logging out;
- :mod:`.messages`: a sender's own mail and uploads, one item, and the actions on it;
- :mod:`.uploads`: the security team's download of an uploaded file;
- :mod:`.links`: the signed one-click links in notifications;
- :mod:`.approvals`: an approver's requests and delegation;
- :mod:`.queues`: the security team's queues, search, bulk actions and dashboard;
- :mod:`.policy`: the policy editor;
- :mod:`.audit`: the audit log, its exports and verification.

Access is declared on each handler with :func:`quarantine_ui.guard.requires`; what a person may
do to a message comes from the one table of actions (:mod:`gateway.actions`) through
:class:`quarantine_ui.mailroom.Mailroom`.
"""
