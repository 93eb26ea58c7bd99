"""Attachments as download links (脱PPAP): the policy's ``link_attachments`` transform.

When a message leaves (never while it is held), the attachments the policy chose are taken out
of the copies for outside recipients and kept in the store, each encrypted on its own
(:mod:`gateway.links.seal`); each outside recipient gets a copy whose attachments are replaced
by a short notice with a link for them alone (:mod:`gateway.links.rewrite`). The link opens a
page on the download listener (:mod:`gateway.links.web`, its own address), where the recipient
asks for a one-time code mailed to their own address and downloads. What a link may do is
decided by pure rules (:mod:`gateway.links.rules`) inside the store's compare-and-set writes;
:mod:`gateway.links.service` ties them to the store, the notifier and the scheduler.
"""
