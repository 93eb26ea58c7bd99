"""Load a policy file (and its directory of people) into a validated, compiled :class:`Policy`.

YAML is read with ruamel.yaml's round-trip loader, which remembers the line of every key and
item, so a validation error from pydantic can be traced back to the line that caused it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from policies.conditions import compile_condition, repeated_nodes
from policies.errors import MESSAGES, PolicyError
from policies.model import Action, Directory, Person, Policy, Predicate, Rule
from policies.schema import DirectorySpec, PersonSpec, PolicySpec, needed_findings, only_direction

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

#: The columns of a CSV directory (``address`` is required, the others optional).
DIRECTORY_COLUMNS = ("address", "name", "department", "manager", "roles", "groups")

#: pydantic error types -> (Japanese, English) name of what was expected.
_EXPECTED: dict[str, tuple[str, str]] = {
    "int": ("整数", "a whole number"),
    "float": ("数値", "a number"),
    "bool": ("true か false", "true or false"),
    "string": ("文字列", "text"),
    "list": ("リスト (- で始まる行)", "a list"),
    "dict": ("キーと値の組 (マッピング)", "a mapping"),
    "model": ("キーと値の組 (マッピング)", "a mapping"),
    "model_attributes": ("キーと値の組 (マッピング)", "a mapping"),
    "timedelta": ("時間 (例: 5m)", "a duration (e.g. 5m)"),
}


def default_policy_path() -> Path:
    """The shipped policy, ``policies/default.yaml``."""
    return Path(__file__).with_name("default.yaml")


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PolicyError(shown, 0, "", "too_complex", {"nodes": MAX_NODES, "depth": MAX_DEPTH})
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(shown, 0, "", "file_unreadable", {"reason": f"not UTF-8 ({exc.reason})"}) from exc
    except OSError as exc:
        raise PolicyError(
            shown, 0, "", "file_unreadable", {"reason": exc.strerror or type(exc).__name__}
        ) from exc
    return _parse_yaml(text, shown)


def _parse_yaml(text: str, shown: str) -> Any:
    try:
        return _yaml().load(text)
    except DuplicateKeyError as exc:
        key = re.search(r'duplicate key "?([^"]*)"?', str(exc.problem))
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise PolicyError(shown, line, "", "duplicate_key", {"key": key.group(1) if key else "?"}) from exc
    except MarkedYAMLError as exc:
        # Inside a flow collection ({...} or [...]) the parser notices the problem where the
        # next token is, often a line later; the collection's start is the line to fix.
        flow = exc.context_mark is not None and "flow" in str(exc.context or "")
        mark = (exc.context_mark if flow else exc.problem_mark) or exc.context_mark
        line = mark.line + 1 if mark else 0
        reason = exc.problem or exc.context or type(exc).__name__
        raise PolicyError(shown, line, "", "bad_yaml", {"reason": reason}) from exc
    except YAMLError as exc:
        raise PolicyError(shown, 0, "", "bad_yaml", {"reason": str(exc)}) from exc


#: Bounds on a policy or directory file: YAML aliases can make a small file expand enormously
#: ("billion laughs") or refer to themselves.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


def _plain(node: Any, shown: str, budget: list[int], depth: int = 0) -> Any:
    """ruamel's round-trip nodes as plain Python values, within the node and depth bounds."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise PolicyError(shown, 0, "", "too_complex", {"nodes": MAX_NODES, "depth": MAX_DEPTH})
    if isinstance(node, dict):
        return {str(k): _plain(v, shown, budget, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, shown, budget, depth + 1) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def line_of(root: Any, loc: Loc) -> int:
    """The 1-based line of the deepest node of ``loc`` that exists in the YAML tree."""
    node = root
    line = root.lc.line + 1 if isinstance(root, CommentedMap | CommentedSeq) else 1
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def field_path(loc: Loc) -> str:
    """``('rules', 2, 'when', 'entity')`` -> ``rules[2].when.entity``."""
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _translate(err: Any) -> tuple[Loc, str, dict[str, Any]]:
    """A pydantic error as (location, our code, params)."""
    etype: str = err["type"]
    loc: Loc = tuple(err["loc"])
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if etype in MESSAGES:
        key = ctx.get("key")
        if isinstance(key, str) and etype == "field_not_for_action":
            loc = (*loc, key)
        return loc, etype, ctx
    if etype == "missing":
        return loc[:-1], "missing_field", {"key": loc[-1] if loc else "?"}
    if etype == "extra_forbidden":
        return loc, "unknown_key", {"key": loc[-1] if loc else "?"}
    if etype in ("literal_error", "enum"):
        return loc, "invalid_choice", {"value": err.get("input"), "expected": ctx.get("expected", "")}
    if etype in ("greater_than_equal", "greater_than"):
        return loc, "too_small", {"limit": ctx.get("ge", ctx.get("gt"))}
    if etype in ("less_than_equal", "less_than"):
        return loc, "too_large", {"limit": ctx.get("le", ctx.get("lt"))}
    if etype in ("too_short", "string_too_short"):
        return loc, "empty_value", {}
    base = etype.removesuffix("_type").removesuffix("_parsing")
    if base in _EXPECTED and etype != base:
        ja, en = _EXPECTED[base]
        return loc, "wrong_type", {"expected_ja": ja, "expected_en": en}
    return loc, "invalid_value", {"reason": err.get("msg", etype)}


def _validate(model: type[M], root: Any, shown: str) -> M:
    try:
        return model.model_validate(_plain(root, shown, [MAX_NODES]))
    except ValidationError as exc:
        found = [_translate(e) for e in exc.errors()]
        loc, code, params = min(found, key=lambda f: line_of(root, f[0]))
        raise PolicyError(shown, line_of(root, loc), field_path(loc), code, params) from exc


def _split_list(cell: str | None) -> list[str] | None:
    items = [x for x in re.split(r"[;|,\s]+", cell or "") if x]
    return items or None


def _csv_people(text: str, shown: str) -> list[tuple[int, str, PersonSpec]]:
    reader = csv.DictReader(io.StringIO(text))
    specs: list[tuple[int, str, PersonSpec]] = []
    try:
        header = [h.strip().lower() for h in reader.fieldnames or ()]
        reader.fieldnames = header
        for h in header:
            if h not in DIRECTORY_COLUMNS:
                raise PolicyError(shown, 1, h, "unknown_key", {"key": h})
        if "address" not in header:
            raise PolicyError(shown, 1, "", "missing_field", {"key": "address"})
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            data: dict[str, Any] = {k: (row.get(k) or "").strip() for k in ("address", "name", "department")}
            data["manager"] = (row.get("manager") or "").strip() or None
            data["roles"] = _split_list(row.get("roles"))
            data["groups"] = _split_list(row.get("groups"))
            try:
                spec = PersonSpec.model_validate(data)
            except ValidationError as exc:
                loc, code, params = _translate(exc.errors()[0])
                raise PolicyError(shown, line, field_path(loc), code, params) from exc
            specs.append((line, "", spec))
    except csv.Error as exc:
        raise PolicyError(shown, reader.line_num + 1, "", "bad_csv", {"reason": str(exc)}) from exc
    return specs


def load_directory(path: Path, shown: str) -> Directory:
    """A directory of people from a CSV (one row per person) or YAML (``people:`` list) file."""
    suffix = path.suffix.lower()
    specs: list[tuple[int, str, PersonSpec]] = []  # (line, field prefix, person)
    if suffix == ".csv":
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise PolicyError(shown, 0, "", "too_complex", {"nodes": MAX_NODES, "depth": MAX_DEPTH})
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise PolicyError(shown, 0, "", "file_unreadable", {"reason": reason}) from exc
        specs = _csv_people(text, shown)
    elif suffix in (".yaml", ".yml"):
        root = _read_yaml(path, shown)
        if not isinstance(root, CommentedMap):
            raise PolicyError(shown, 1, "", "not_a_mapping", {})
        directory = _validate(DirectorySpec, root, shown)
        specs = [(line_of(root, ("people", i)), f"people[{i}]", p) for i, p in enumerate(directory.people)]
    else:
        raise PolicyError(shown, 0, "", "bad_directory_format", {"value": path.name})
    people: dict[str, Person] = {}
    for line, prefix, p in specs:
        if p.address in people:
            raise PolicyError(
                shown,
                line,
                f"{prefix}.address" if prefix else "address",
                "duplicate_person",
                {"value": p.address},
            )
        people[p.address] = Person(
            address=p.address,
            name=p.name,
            department=p.department,
            manager=p.manager,
            roles=tuple(p.roles or ()),
            groups=tuple(p.groups or ()),
        )
    for line, prefix, p in specs:
        if p.manager is not None and p.manager not in people:
            raise PolicyError(
                shown,
                line,
                f"{prefix}.manager" if prefix else "manager",
                "unknown_manager",
                {"value": p.manager},
            )
    return Directory(people.values())


def load_policy(path: str | Path, *, relative_to: str | Path | None = None) -> Policy:
    """Read, validate and compile a policy file. Raises :class:`PolicyError` naming file and line.
    A directory file is looked up relative to ``relative_to`` (default: ``path``), so a version
    kept elsewhere (the UI's activations) reads the directory beside the configured policy."""
    p = Path(path)
    return _build(_read_yaml(p, str(path)), Path(relative_to) if relative_to else p, str(path))


def parse_policy(text: str, *, path: str | Path = "policy.yaml") -> Policy:
    """Validate and compile policy text (e.g. from an editor) as if it were the file ``path``;
    a directory is looked up relative to ``path``."""
    return _build(_parse_yaml(text, str(path)), Path(path), str(path))


def _build(root: Any, p: Path, shown: str) -> Policy:
    if not isinstance(root, CommentedMap):
        raise PolicyError(shown, 1, "", "not_a_mapping", {})
    spec = _validate(PolicySpec, root, shown)

    def fail(loc: Loc, code: str, params: dict[str, Any]) -> None:
        raise PolicyError(shown, line_of(root, loc), field_path(loc), code, params)

    directory: Directory | None = None
    if spec.organisation.directory is not None:
        dpath = (p.parent / spec.organisation.directory).resolve()
        if not dpath.is_file():
            fail(("organisation", "directory"), "file_unreadable", {"reason": f"no such file: {dpath}"})
        directory = load_directory(dpath, str(p.parent / spec.organisation.directory))

    rules: list[Rule] = []
    seen: set[str] = set()
    shared: dict[str, Predicate] = {}
    repeated = repeated_nodes(r.when for r in spec.rules)
    for i, r in enumerate(spec.rules):
        if r.id in seen:
            fail(("rules", i, "id"), "duplicate_rule_id", {"value": r.id})
        seen.add(r.id)

        def complain(loc: Loc, code: str, params: dict[str, Any], i: int = i) -> None:
            fail(("rules", i, "when", *loc), code, params)

        predicate = compile_condition(r.when, directory, complain, shared, repeated)
        for field in ("approvers", "fallback_approvers", "escalate_to"):
            for j, entry in enumerate(getattr(r.action, field) or ()):
                if entry == "manager" or entry.startswith("group:"):
                    if directory is None:
                        fail(("rules", i, "action", field, j), "no_directory", {"what": entry})
                    elif entry.startswith("group:") and entry[6:] not in directory.groups:
                        fail(("rules", i, "action", field, j), "unknown_group", {"value": entry[6:]})
        if not r.enabled:
            continue
        rules.append(
            Rule(
                id=r.id,
                title_ja=r.title.ja,
                title_en=r.title.en,
                description_ja=r.description.ja,
                description_en=r.description.en,
                action=Action(r.action.type),
                spec=r.action,
                predicate=predicate,
                direction=only_direction(r.when),
                needs=needed_findings(r.when),
            )
        )
    return Policy(
        path=p,
        spec=spec,
        rules=tuple(rules),
        internal_domains=frozenset(spec.organisation.internal_domains),
        directory=directory if directory is not None else Directory(),
    )
