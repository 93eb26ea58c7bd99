"""Policy load errors: one exception, a code with parameters, and its texts in Japanese and English.

The quarantine UI shows errors to a Japanese administrator, so every error carries a stable
``code`` and ``params``; :data:`MESSAGES` holds the Japanese and English text of each code.

PolicyError (ValueError)   file, line, field, code, params, message_ja, message_en
"""

from __future__ import annotations

from typing import Any, Final

#: code -> (Japanese, English). Placeholders are filled from the error's ``params``.
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "file_unreadable": (
        "ファイルを読み込めません: {reason}",
        "cannot read the file: {reason}",
    ),
    "bad_yaml": (
        "YAML の書式が正しくありません: {reason}",
        "the file is not valid YAML: {reason}",
    ),
    "duplicate_key": (
        "同じキーが二度書かれています: {key}",
        "the same key is written twice: {key}",
    ),
    "not_a_mapping": (
        "キーと値の組 (マッピング) を書いてください",
        "expected a mapping of keys to values",
    ),
    "unknown_key": (
        "知らないキーです: {key}",
        "unknown key: {key}",
    ),
    "missing_field": (
        "必須の項目がありません: {key}",
        "a required field is missing: {key}",
    ),
    "wrong_type": (
        "値の型が違います ({expected_ja} を書いてください)",
        "wrong type: expected {expected_en}",
    ),
    "too_small": (
        "値が小さすぎます ({limit} 以上にしてください)",
        "the value is too small (it must be at least {limit})",
    ),
    "too_large": (
        "値が大きすぎます ({limit} 以下にしてください)",
        "the value is too large (it must be at most {limit})",
    ),
    "empty_value": (
        "空にはできません",
        "must not be empty",
    ),
    "invalid_choice": (
        "使えない値です: {value} (使える値: {expected})",
        "not an allowed value: {value} (allowed: {expected})",
    ),
    "invalid_value": (
        "値が正しくありません: {reason}",
        "invalid value: {reason}",
    ),
    "unknown_entity_type": (
        "知らない検出種別です: {value} (使える種別: {expected})",
        "unknown entity type: {value} (known types: {expected})",
    ),
    "unknown_action": (
        "知らないアクションです: {value} (使えるアクション: {expected})",
        "unknown action: {value} (known actions: {expected})",
    ),
    "field_not_for_action": (
        "この項目はアクション {action} では使えません: {key}",
        "this field is not used by the action {action}: {key}",
    ),
    "empty_condition": (
        "条件が空です。少なくとも一つの条件を書いてください",
        "the condition is empty: write at least one condition",
    ),
    "bad_duration": (
        "時間の書き方が正しくありません: {value} (例: 30s, 5m, 24h, 2d)",
        "not a duration: {value} (examples: 30s, 5m, 24h, 2d)",
    ),
    "bad_size": (
        "サイズの書き方が正しくありません: {value} (例: 500KB, 10MB)",
        "not a size: {value} (examples: 500KB, 10MB)",
    ),
    "bad_address": (
        "メールアドレスの形式が正しくありません: {value}",
        "not an e-mail address: {value}",
    ),
    "bad_domain": (
        "ドメイン名の形式が正しくありません: {value}",
        "not a domain name: {value}",
    ),
    "bad_rule_id": (
        "ルール ID には英小文字・数字・ - _ . だけを使ってください: {value}",
        "a rule id may only use lower-case letters, digits, '-', '_' and '.': {value}",
    ),
    "duplicate_rule_id": (
        "ルール ID が重複しています: {value}",
        "duplicate rule id: {value}",
    ),
    "link_expiry": (
        "リンクの有効期限は {low} 日から {high} 日の間で指定してください: {value}",
        "a link's expiry must be between {low} and {high} days: {value}",
    ),
    "bad_range": (
        "範囲が正しくありません: 下限 {at_least} が上限 {at_most} より大きいです",
        "empty range: at_least {at_least} is greater than at_most {at_most}",
    ),
    "missing_escalate_to": (
        "期限切れ時に上位承認 (escalate) する場合は escalate_to を書いてください",
        "on_timeout: escalate needs escalate_to",
    ),
    "unknown_value": (
        "{what} に使えない値です: {value} (使える値: {expected})",
        "{value} is not a value of {what} (known values: {expected})",
    ),
    "upload_only_action": (
        "アクション {action} はアップロードにだけ使えます。条件に direction: upload を書いてください",
        "the action {action} is for uploads only: add direction: upload to the condition",
    ),
    "mail_only_action": (
        "アクション {action} はメールにだけ使えます。direction: upload の条件では使えません",
        "the action {action} is for mail only: it cannot be used with direction: upload",
    ),
    "no_directory": (
        "{what} を使うには organisation.directory に社員名簿を指定してください",
        "{what} needs a directory of people (organisation.directory)",
    ),
    "unknown_group": (
        "社員名簿にないグループです: {value}",
        "no such group in the directory: {value}",
    ),
    "unknown_department": (
        "社員名簿にない部署です: {value}",
        "no such department in the directory: {value}",
    ),
    "unknown_manager": (
        "上長 {value} が社員名簿にいません",
        "the manager {value} is not in the directory",
    ),
    "duplicate_person": (
        "同じアドレスの人が二度登録されています: {value}",
        "the same address is listed twice: {value}",
    ),
    "bad_csv": (
        "CSV の書式が正しくありません: {reason}",
        "the file is not valid CSV: {reason}",
    ),
    "bad_directory_format": (
        "社員名簿は .csv か .yaml/.yml のファイルにしてください: {value}",
        "a directory must be a .csv or .yaml/.yml file: {value}",
    ),
    "too_complex": (
        "ファイルが大きすぎるか複雑すぎます (要素 {nodes} 個・入れ子 {depth} 段まで)",
        "the file is too large or too complex (at most {nodes} elements, nested {depth} deep)",
    ),
}


#: ruamel.yaml's problems as a Japanese reader is told them (the first that matches).
_YAML_PROBLEMS_JA = (
    ("found character '\\t'", "タブ文字は使えません。字下げには半角スペースを使ってください"),
    (
        "mapping values are not allowed",
        "ここには「キー: 値」を書けません。コロンの位置か字下げを確認してください",
    ),
    ("expected <block end>", "字下げがそろっていません"),
    ("expected ',' or '}'", "{ } が閉じていないか、カンマが足りません"),
    ("expected ',' or ']'", "[ ] が閉じていないか、カンマが足りません"),
    ("could not find expected ':'", "「:」が見つかりません"),
    ("unexpected end of stream", "引用符やかっこが閉じられていません"),
    (
        "found '<stream end>'",
        "ファイルが途中で終わっています（値が書かれていないか、かっこが閉じていません）",
    ),
    ("found undefined alias", "定義されていないエイリアスです"),
)


def yaml_problem_ja(problem: str) -> str:
    """ruamel.yaml's problem in Japanese, the parser's own words after it.

    >>> yaml_problem_ja("mapping values are not allowed here")
    'ここには「キー: 値」を書けません。コロンの位置か字下げを確認してください'
    """
    for needle, ja in _YAML_PROBLEMS_JA:
        if needle in problem:
            return ja
    return problem


def render(code: str, params: dict[str, Any]) -> tuple[str, str]:
    """The Japanese and English text of an error code.

    >>> render("unknown_key", {"key": "acton"})
    ('知らないキーです: acton', 'unknown key: acton')
    """
    ja, en = MESSAGES.get(code, ("{reason}", "{reason}"))
    safe = _Defaulting({k: _show(v) for k, v in params.items()})
    safe_ja = _Defaulting(safe)
    if code == "bad_yaml" and "reason" in params:
        safe_ja["reason"] = yaml_problem_ja(str(params["reason"]))
    return ja.format_map(safe_ja), en.format_map(safe)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _show(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    return str(value)


class PolicyError(ValueError):
    """A policy (or its directory of people) could not be loaded.

    ``line`` is 1-based (0 when the whole file is concerned); ``field`` is a dotted path such as
    ``rules[2].when.entity.type``.
    """

    def __init__(
        self, file: str, line: int, field: str, code: str, params: dict[str, Any] | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.code = code
        self.params: dict[str, Any] = dict(params or {})
        self.message_ja, self.message_en = render(code, self.params)
        super().__init__(self.text_en)

    @property
    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.field}" if self.field else place

    @property
    def text_en(self) -> str:
        return f"{self.where}: {self.message_en}"

    @property
    def text_ja(self) -> str:
        return f"{self.where}: {self.message_ja}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "code": self.code,
            "params": {k: _show(v) for k, v in self.params.items()},
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }
