"""Everything with side effects: SMTP relay, proxy addon, delivery, scheduler, store, audit, CLI."""
