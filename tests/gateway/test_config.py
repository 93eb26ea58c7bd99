"""The configuration file: defaults, units, and errors that name file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_duration, parse_size

SECRET = "s" * 40


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sekimori.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, f"secret: {SECRET}\n"), base=tmp_path)
    assert (cfg.smtp.host, cfg.smtp.port) == ("127.0.0.1", 10025)
    assert (cfg.upstream.host, cfg.upstream.port) == ("127.0.0.1", 10026)
    assert cfg.ui.base_url == "http://127.0.0.1:8025"
    assert cfg.store.path == tmp_path / "var"
    assert cfg.policy.path == tmp_path / "policies/default.yaml"
    assert cfg.upstream.retry.lifetime == 5 * 86400
    assert (cfg.links.base_url, cfg.links.port) == ("http://127.0.0.1:8026", 8026)
    assert (cfg.links.expiry, cfg.links.max_downloads, cfg.links.open_domains) == (7 * 86400, 5, [])


def test_units(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            f"secret: {SECRET}\nsmtp:\n  limits:\n    max_message_size: 10MiB\n    session_time: 2m\n"
            "upstream:\n  retry:\n    lifetime: 2h\n",
        ),
        base=tmp_path,
    )
    assert cfg.smtp.limits.max_message_size == 10 * 1024 * 1024
    assert cfg.smtp.limits.session_time == 120
    assert cfg.upstream.retry.lifetime == 7200


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (f"secret: {SECRET}\nsmtp:\n  port: 10025\n  prot: 1\n", 4, "smtp.prot: unknown key"),
        (f"secret: {SECRET}\nsmtp:\n  port: 99999\n", 3, "smtp.port"),
        (f"secret: {SECRET}\nsmtp:\n  networks:\n    - 10.0.0.0/8\n    - nonsense\n", 5, "not a network"),
        (f"secret: {SECRET}\nupstream:\n  retry:\n    lifetime: forever\n", 4, "not a duration"),
        ("secret: short\n", 1, "at least 32"),
        ("smtp: {}\n", None, "secret: Field required"),
        # A misspelt required key is an unknown key on its own line, not a missing "secret".
        (f"smtp: {{}}\nsecrte: {SECRET}\n", 2, "secrte: unknown key"),
        (f"secret: {SECRET}\nsmtp: [\n", 3, "YAML syntax"),
        (f"secret: {SECRET}\nui:\n  base_url: ftp://x\n", 3, "not an http(s) URL"),
        (f"secret: {SECRET}\nsmtp:\n  tls:\n    cert: nope.pem\n    key: nope.key\n", 4, "no such file"),
        ("- a\n- b\n", 1, "mapping"),
        (f"secret: {SECRET}\nlinks:\n  expiry: 94d\n", 3, "links.expiry: must be between 1 and 93 days"),
        (f"secret: {SECRET}\nlinks:\n  expiry: 12h\n", 3, "between 1 and 93 days"),
        (f"secret: {SECRET}\nlinks:\n  max_downloads: 0\n", 3, "links.max_downloads"),
        (f"secret: {SECRET}\nlinks:\n  open_domains: [lists.example.com, x]\n", 3, "not a domain: 'x'"),
        (
            f"secret: {SECRET}\nui:\n  base_url: http://gw.example.jp\nlinks:\n  base_url: http://GW.example.jp:80/\n",
            5,
            "links.base_url: the download pages need their own address",
        ),
        (f"secret: {SECRET}\nlinks:\n  port: 8025\n", 3, "links.port: the download listener cannot share"),
        (f"secret: {SECRET}\nui:\n  approval_links: none\n", 3, "ui.approval_links"),
    ],
)
def test_errors_name_file_line_and_reason(tmp_path: Path, text: str, line: int | None, needle: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p, base=tmp_path)
    assert err.value.path == str(p)
    if line is not None:
        assert err.value.line == line
    assert needle in str(err.value)
    assert str(err.value).startswith(str(p))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEKIMORI_TEST_SECRET", "x" * 33)
    cfg = load_config(write(tmp_path, "secret: env:SEKIMORI_TEST_SECRET\n"), base=tmp_path)
    assert cfg.secret_bytes == b"x" * 33


@pytest.mark.parametrize("bad", ["5 years", True, -1, "1.5.2s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(("text", "n"), [("512KiB", 524288), ("2M", 2_000_000), ("7", 7), ("1GiB", 1 << 30)])
def test_sizes(text: str, n: int) -> None:
    assert parse_size(text) == n


def test_run_refuses_to_start_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    p = write(tmp_path, f"secret: {SECRET}\nupstream:\n  concurrency: 0\n")
    assert main(["run", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:3: upstream.concurrency" in err


def test_example_file_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "sekimori.example.yaml", base=root)
    assert (cfg.smtp.port, cfg.upstream.port) == (10025, 10026)
    assert cfg.policy.path == root / "policies" / "default.yaml"


def test_scan_workers(tmp_path: Path) -> None:
    auto = load_config(write(tmp_path, f"secret: {SECRET}\n"), base=tmp_path)
    assert auto.scan.worker_count >= 1
    fixed = load_config(write(tmp_path, f"secret: {SECRET}\nscan:\n  workers: 0\n"), base=tmp_path)
    assert fixed.scan.worker_count == 0
    with pytest.raises(ConfigError, match=r"scan\.workers"):
        load_config(write(tmp_path, f"secret: {SECRET}\nscan:\n  workers: 500\n"), base=tmp_path)


def test_scan_memory_and_slow_slots(tmp_path: Path) -> None:
    auto = load_config(write(tmp_path, f"secret: {SECRET}\nscan:\n  workers: 2\n"), base=tmp_path)
    assert auto.scan.slow_slot_count == 2
    assert 768 << 20 <= auto.scan.memory_bytes <= 2 << 30
    fixed = load_config(
        write(tmp_path, f"secret: {SECRET}\nscan:\n  memory: 1GiB\n  slow_slots: 3\n"), base=tmp_path
    )
    assert (fixed.scan.memory_bytes, fixed.scan.slow_slot_count) == (1 << 30, 3)
    with pytest.raises(ConfigError, match=r":3: scan\.memory.*at least 256MiB"):
        load_config(write(tmp_path, f"secret: {SECRET}\nscan:\n  memory: 10MiB\n"), base=tmp_path)
    with pytest.raises(ConfigError, match=r"scan\.slow_slots"):
        load_config(write(tmp_path, f"secret: {SECRET}\nscan:\n  slow_slots: 0\n"), base=tmp_path)


def test_no_proxy_section_means_no_proxy(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, f"secret: {SECRET}\n"), base=tmp_path).proxy is None


def test_proxy_defaults_and_paths_under_the_store(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, f"secret: {SECRET}\nstore:\n  path: state\nproxy: {{}}\n"), base=tmp_path
    )
    proxy = cfg.proxy
    assert proxy is not None
    assert (proxy.host, proxy.port, proxy.address) == ("127.0.0.1", 3128, "127.0.0.1:3128")
    assert proxy.ca == tmp_path / "state" / "proxy-ca" and proxy.spool == tmp_path / "state" / "uploads"
    assert proxy.services == ["google_drive", "box", "microsoft_graph", "dropbox", "slack"]
    assert proxy.limits.memory_body == 4 * 1024 * 1024 and proxy.limits.inspect_max == 100 * 1024 * 1024
    assert "10.0.0.0/8" in proxy.clients and not proxy.identity.basic and not proxy.keep_passed


@pytest.mark.parametrize(
    ("proxy", "line", "needle"),
    [
        ("  bypass:\n    - '*.dropbox.com'\n    - http://x\n", 5, "proxy.bypass.1: not a host pattern"),
        ("  services: [box, onedrive]\n", 3, "proxy.services.1"),
        ("  rules:\n    - name: box\n      hosts: [x.example]\n", 4, "not a built-in service name"),
        (
            "  rules:\n    - name: chat\n      hosts: [x.example]\n      paths: [api]\n",
            6,
            "must start with /",
        ),
        ("  rules:\n    - name: chat\n      hosts: []\n", 5, "proxy.rules.0.hosts"),
        ("  identity:\n    networks: {10.0.0.0/24: taro}\n", 4, "not a mail address"),
        ("  identity:\n    header: X-User\n", 4, "needs proxy.identity.trusted_proxies"),
        (
            "  tenant_restrictions:\n    microsoft:\n      tenants: [contoso.com]\n",
            4,
            "tenants and context go together",
        ),
        ("  tenant_restrictions:\n    microsoft:\n      v2_policy: nope\n", 4, "two GUIDs"),
        ("  limits:\n    memory_body: lots\n", 4, "not a size"),
        ("  upstream_trust: missing.pem\n", 3, "no such file"),
        ("  public_address: gw.example\n", 3, "host:port"),
        ("  prot: 1\n", 3, "proxy.prot: unknown key"),
    ],
)
def test_proxy_errors_name_the_line(tmp_path: Path, proxy: str, line: int, needle: str) -> None:
    p = write(tmp_path, f"secret: {SECRET}\nproxy:\n{proxy}")
    with pytest.raises(ConfigError) as err:
        load_config(p, base=tmp_path)
    assert err.value.line == line, str(err.value)
    assert needle in str(err.value)
