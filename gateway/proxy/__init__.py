"""The upload gate: an explicit HTTP(S) proxy (mitmproxy, embedded on Sekimori's event loop)
that inspects uploads to cloud services with the same classifiers and policy as mail.

Every feature is one addon module with hook-named methods, as in mitmproxy's own ``addons/``:
:mod:`~gateway.proxy.access` (who may connect, who is uploading), :mod:`~gateway.proxy.tenants`
(tenant-restriction headers), :mod:`~gateway.proxy.gate` (the upload verdicts) and
:mod:`~gateway.proxy.hygiene` (stream what is not inspected). Each cloud service is one module of
:mod:`gateway.proxy.services` describing its hosts and request shapes as data.
:mod:`~gateway.proxy.server` starts mitmproxy with exactly these addons.
"""
