"""Credential (認証情報: passwords, keys, tokens).

Formats, from the issuers' documentation:

- AWS access key id: ``AKIA`` (long-term) or ``ASIA`` (temporary) and 16 upper-case base-32
  characters (AWS IAM User Guide, "Understanding unique ID prefixes");
- AWS secret access key: 40 base-64 characters; only after a key name such as
  ``aws_secret_access_key`` (on their own, 40 random characters are indistinguishable from
  any other random string);
- private keys: the PEM armour of RFC 7468 s 2 (``-----BEGIN ... PRIVATE KEY-----``), with the
  OpenSSH, RSA, EC, DSA, ENCRYPTED variants; the value is the whole block when its END line
  follows;
- GitHub tokens: ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_`` + 36 alphanumerics, and
  fine-grained ``github_pat_`` tokens (GitHub Docs, "About authentication to GitHub");
- Slack tokens: ``xoxb-``, ``xoxa-``, ``xoxp-``, ``xoxr-``, ``xoxs-`` (Slack API, "Token types");
- password lines: ``パスワード: …``, ``PW: …``, ``password=…``, ``暗証番号：…`` — the value is
  the secret after the separator (at least 4 characters, no space; after the short labels
  ``pass``/``pw``, which are also words, it must hold a digit or a symbol). A Japanese sentence after
  the colon (``パスワード: 別途お送りします``) says where the password is, not what it is, and
  is not a finding; nor are masks (``********``, ``●●●●``, ``＊＊＊``, also partial ones such as
  ``ab******``) and template placeholders (``{password}``).

>>> [f.value for f in scan("パスワード：Xy7#kq9!")]
['Xy7#kq9!']
>>> list(scan("パスワード: 別途お送りします"))
[]
>>> [f.normalized for f in scan("aws_access_key_id = AKIAIOSFODNN7EXAMPLE")]
['AKIAIOSFODNN7EXAMPLE']
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "credential"
_PW_KEY = (
    r"(?:(?i:password|passwd|passcode|pass\s?phrase|pwd|pw|pass)|パスワード|パスコード|暗証番号"
    r"|ログインパスワード|解凍パスワード)"
)
PATTERN = (
    r"(?=[AaSsGgXxPp\-パ暗ロ解])(?<![A-Za-z0-9])(?:"
    r"(?P<credential_aws>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"
    r"|(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)[\"']?\s{0,3}[:=]\s{0,3}[\"']?"
    r"(?P<credential_awssecret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
    r"|(?P<credential_github>gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])"
    r"|(?P<credential_slack>xox[baprs]-[A-Za-z0-9-]{10,200})(?![A-Za-z0-9-])"
    r"|(?P<credential_pem>-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----"
    r"(?:[A-Za-z0-9+/=\s:,-]{1,16384}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----)?)"
    rf"|{_PW_KEY}[\"']?[ \t]{{0,3}}(?:[:=]|は|:は)[ \t]{{0,3}}(?:\n[ \t]{{0,8}})?[\"'「]?"
    r"(?P<credential_pw>[^\s\"'「」]{1,128})"
    r")"
)
PRIORITY = 15
#: Every branch of PATTERN holds one of these (in the lower-cased, NFKC text): the key prefixes,
#: the PEM armour, the AWS secret's key name and every password label (``pass`` covers
#: password/passwd/passcode/pass phrase, ``pw`` covers pwd). A part with none is not scanned.
REQUIRES = (
    "akia",
    "asia",
    "secret",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "-----begin",
    "pass",
    "pw",
    "パスワード",
    "パスコード",
    "暗証番号",
)

_SCORES = {
    "credential_aws": (0.9, "AWS access key id"),
    "credential_awssecret": (1.0, "AWS secret access key after its key name"),
    "credential_github": (1.0, "GitHub token"),
    "credential_slack": (0.95, "Slack token"),
    "credential_pem": (1.0, "PEM private key block"),
    "credential_pw": (0.8, "password after a password label"),
}
_PROSE = regex.compile(r"[\p{Hiragana}\p{Han}]")
_PLACEHOLDER = regex.compile(r"[{<\[(%$].*[}>\])%]|\$\{?\w+\}?|(.)\1{3,}|x{4,}|\*+|●+|＊+", regex.IGNORECASE)
#: Mask characters (the text is NFKC: ＊ is already *): a run of them hides the secret, also
#: when a few characters are shown (``ab******``, ``●●●●1234``).
_MASK = regex.compile(r"[*●○◯•・■□※×✕]{3,}")
_TRAILING = ".,;、。)）」"
#: Short labels that are also English words: their value must look like a secret (a digit or a
#: symbol), unlike after パスワード or password.
_WEAK_KEYS = frozenset({"pass", "pw", "pwd"})
_SECRET_LIKE = regex.compile(r"[0-9]|[^\p{L}\p{N}]")


def validate_password(secret: str) -> str:
    """Return the secret, or raise when it is not one (prose, mask, placeholder, too short).

    >>> validate_password("Tokyo2024!")
    'Tokyo2024!'
    >>> is_password("********"), is_password("ab******"), is_password("●●●●1234")
    (False, False, False)
    """
    secret = secret.rstrip(_TRAILING)
    if len(secret) < 4:
        raise InvalidLength(secret)
    if _PROSE.search(secret) or _PLACEHOLDER.fullmatch(secret) or _MASK.search(secret):
        raise InvalidFormat(secret)
    return secret


def is_password(secret: str) -> bool:
    try:
        validate_password(secret)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    for group, (score, pattern) in _SCORES.items():
        if match.group(group) is None:
            continue
        start, end = match.span(group)
        value = doc.text[start:end]
        if group == "credential_pw":
            if not is_password(value):
                return
            value = value.rstrip(_TRAILING)
            end = start + len(value)
            label = doc.text[match.start() : start].split(":")[0].split("=")[0].strip(" \t\n\"'「は")
            if label.lower() in _WEAK_KEYS and not _SECRET_LIKE.search(value):
                return  # "Result pass: Approved" is a test report, not a password
            yield Hit(start, end, score, value, Explanation(pattern, "keyword", score, (label,)))
        else:
            yield Hit(start, end, score, value, Explanation(pattern, "format", score))
        return


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
