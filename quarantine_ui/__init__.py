"""Quarantine web UI over the store: senders, approvers, security admins, auditors."""
