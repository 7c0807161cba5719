"""The policy language: parse errors with their positions, effects, globs and evaluation."""

from __future__ import annotations

import pytest

from domain.organizations.builtins import AGENT_MANAGER_TEXT, BUILTINS, MEMBER_TEXT, OWNER_TEXT
from domain.organizations.policy_language import compile_policy, decide, parse
from domain.shared.actions import GLOB_ACTIONS, POLICY_ACTIONS
from domain.shared.errors import Invalid


def errors_of(text: str) -> list[tuple[int, int, str]]:
    _, errors = parse(text)
    return [(e.line, e.column, e.message) for e in errors]


def allows(
    text: str,
    action: str,
    resource: dict[str, str] | None = None,
    *,
    self_id: str = "me",
    unknown: frozenset[str] = frozenset(),
) -> bool:
    return decide(compile_policy(text), action, resource or {}, self_id, unknown)


# -- parse errors: line, column (1-based) and message ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bogus()", (1, 1, "unknown action 'Bogus'")),
        ("   Bogus()", (1, 4, "unknown action 'Bogus'")),
        ("getobject()", (1, 1, "unknown action 'getobject'")),
        ("deny Bogus()", (1, 6, "unknown action 'Bogus'")),
        ("Zzz*()", (1, 1, "pattern matches no action 'Zzz*'")),
        ("Get?()", (1, 1, "pattern matches no action 'Get?'")),
        (
            'GetOrganization(repository="x")',
            (1, 17, "'repository' does not apply to GetOrganization (attributes: none)"),
        ),
        (
            'GetGroup(path="x")',
            (1, 10, "'path' does not apply to GetGroup (attributes: group)"),
        ),
        ('GetObject(repository="x"', (1, 25, "expected ')', found end of line")),
        ("GetObject", (1, 10, "expected '(', found end of line")),
        ('GetObject(repository="x)', (1, 22, "unterminated string")),
        ("GetObject(repository=x)", (1, 22, 'expected a double-quoted string such as "data-*"')),
        ("GetObject(repository)", (1, 21, "expected '=' or ':', found ')'")),
        ('GetObject (path "x")', (1, 17, "expected '=' or ':', found '\"'")),
        ("GetObject (path: /data/*)", (1, 18, 'expected a double-quoted string such as "data-*"')),
        ('GetObject (path: "/data/*"', (1, 27, "expected ')', found end of line")),
        (
            'GetObject (bucket: "x")',
            (1, 12, "'bucket' does not apply to GetObject (attributes: path, repository)"),
        ),
        ('GetObject(repository="x" path="y")', (1, 26, "expected ',' or ')'")),
        ("GetObject(,)", (1, 11, "expected an attribute name such as repository")),
        (
            "GetObject() GetObject()",
            (1, 13, "unexpected text after the statement (one per line)"),
        ),
        ('GetObject(path="a", path="b")', (1, 21, "'path' is given twice")),
        ('GetAgent(agent_owner="bob")', (1, 10, 'agent_owner only accepts "self"')),
        ("allow", (1, 6, "expected an action after 'allow'")),
        ("123()", (1, 1, "expected an action name such as GetObject")),
    ],
)
def test_parse_errors_carry_line_column_and_message(
    text: str, expected: tuple[int, int, str]
) -> None:
    assert errors_of(text) == [expected]


def test_errors_on_several_lines_are_all_reported_with_their_line_numbers() -> None:
    text = '# header\nGetObject()\n  Nope()\n\nListObjects(path="a"\ndeny Get*(group=1)\n'
    assert errors_of(text) == [
        (3, 3, "unknown action 'Nope'"),
        (5, 21, "expected ')', found end of line"),
        (6, 17, 'expected a double-quoted string such as "data-*"'),
    ]
    statements, _ = parse(text)
    assert [s.action for s in statements] == ["GetObject"]


def test_compile_policy_rejects_invalid_text_naming_the_first_errors() -> None:
    with pytest.raises(Invalid) as raised:
        compile_policy("GetObject()\nBogus()")
    assert "line 2, column 1: unknown action 'Bogus'" in raised.value.message


def test_text_longer_than_64_kib_is_refused() -> None:
    assert errors_of("GetObject()\n" * 6000) == [(1, 1, "policy text is longer than 64 KiB")]


# -- accepted forms -------------------------------------------------------------------------


def test_comments_blank_lines_and_whitespace_are_ignored() -> None:
    text = (
        "# a comment line\n"
        "\n"
        "   \t  \n"
        '  GetObject( repository = "data" , path="raw/*" , )   # trailing comment\n'
        "deny\tDeleteObject()\n"
    )
    statements, errors = parse(text)
    assert errors == []
    assert [(s.effect, s.action, s.conditions, s.line) for s in statements] == [
        ("allow", "GetObject", (("repository", "data"), ("path", "raw/*")), 4),
        ("deny", "DeleteObject", (), 5),
    ]


def test_string_escapes_are_unescaped() -> None:
    (statement,), errors = parse(r'GetObject(path="a\"b\\c")')
    assert errors == []
    assert statement.conditions == (("path", 'a"b\\c'),)


def test_explicit_allow_is_the_default_effect() -> None:
    assert allows("allow GetObject()", "GetObject")
    assert allows("GetObject()", "GetObject")
    assert not allows("GetObject()", "PutObject")


def test_the_three_builtins_parse() -> None:
    for text in (OWNER_TEXT, MEMBER_TEXT, AGENT_MANAGER_TEXT):
        assert errors_of(text) == []
    assert set(BUILTINS) == {"Owner", "Member", "AgentManager"}
    owner = compile_policy(OWNER_TEXT)
    assert all(allows(OWNER_TEXT, action) for action in GLOB_ACTIONS)
    assert not allows(OWNER_TEXT, "Egress")  # network statements are never implied by a glob
    assert len(owner) == 1
    assert allows(MEMBER_TEXT, "GetObject", {"repository": "r", "path": "p"})
    assert not allows(MEMBER_TEXT, "DeleteRepository", {"repository": "r"})
    assert not allows(MEMBER_TEXT, "RemoveMember")
    assert not allows(MEMBER_TEXT, "ReadAuditLog")
    mine = {"agent": "bot", "agent_owner": "me"}
    theirs = {"agent": "bot", "agent_owner": "someone-else"}
    assert allows(AGENT_MANAGER_TEXT, "DeleteAgent", mine, self_id="me")
    assert not allows(AGENT_MANAGER_TEXT, "DeleteAgent", theirs, self_id="me")
    assert not allows(AGENT_MANAGER_TEXT, "DeleteAgent", {"agent": "bot"}, self_id="me")


# -- effects and globs ----------------------------------------------------------------------


def test_deny_beats_allow_in_any_order() -> None:
    resource = {"repository": "prod-1"}
    assert not allows(
        'deny DeleteRepository(repository="prod-*")\n*()', "DeleteRepository", resource
    )
    assert not allows(
        '*()\ndeny DeleteRepository(repository="prod-*")', "DeleteRepository", resource
    )
    assert allows(
        '*()\ndeny DeleteRepository(repository="prod-*")', "DeleteRepository", {"repository": "dev"}
    )


def test_a_deny_alone_allows_nothing() -> None:
    assert not allows("deny GetObject()", "GetObject")
    assert not allows("deny GetObject()", "PutObject")
    assert not allows("", "GetObject")


def test_action_globs_cover_every_matching_action() -> None:
    get_actions = {a for a in POLICY_ACTIONS if a.startswith("Get")}
    assert len(get_actions) > 5
    for action in GLOB_ACTIONS:
        assert allows("*()", action)
        assert allows("Get*()", action) == (action in get_actions)
    assert allows("*Object()", "PutObject") and allows("*Object()", "GetObject")
    assert not allows("*Object()", "ListObjects")
    assert allows("???Object()", "PutObject") and not allows("???Object()", "DeleteObject")


def test_a_glob_action_accepts_the_attributes_of_any_action_it_covers() -> None:
    statements, errors = parse('Get*(repository="data-*")')
    assert errors == []
    assert allows('Get*(repository="data-*")', "GetObject", {"repository": "data-1", "path": "x"})
    # GetOrganization carries no repository attribute: the line cannot apply to it.
    assert not allows('Get*(repository="data-*")', "GetOrganization")
    assert statements[0].actions >= {"GetObject", "GetRepository", "GetOrganization"}


def test_attribute_globs_match_nested_paths_and_character_classes() -> None:
    text = 'PutObject(repository="data-*", path="raw/*")'
    assert allows(text, "PutObject", {"repository": "data-x", "path": "raw/a.csv"})
    assert allows(text, "PutObject", {"repository": "data-x", "path": "raw/2024/01/a.csv"})
    assert not allows(text, "PutObject", {"repository": "data-x", "path": "cooked/a.csv"})
    assert not allows(text, "PutObject", {"repository": "prod", "path": "raw/a.csv"})
    assert not allows(text, "PutObject", {"repository": "data-x", "path": "xraw/a"})
    assert allows('GetObject(path="v?/[ab].txt")', "GetObject", {"path": "v1/a.txt"})
    assert not allows('GetObject(path="v?/[ab].txt")', "GetObject", {"path": "v1/c.txt"})
    assert not allows('GetObject(path="v?/[ab].txt")', "GetObject", {"path": "v12/a.txt"})


def test_attribute_values_are_case_sensitive_and_anchored() -> None:
    assert allows('GetRepository(repository="data")', "GetRepository", {"repository": "data"})
    assert not allows('GetRepository(repository="data")', "GetRepository", {"repository": "Data"})
    assert not allows('GetRepository(repository="data")', "GetRepository", {"repository": "data2"})


def test_a_missing_attribute_never_matches() -> None:
    text = 'ListObjects(repository="r", path="raw/*")'
    assert allows(text, "ListObjects", {"repository": "r", "path": "raw/x"})
    assert not allows(text, "ListObjects", {"repository": "r"})
    # ... also for deny lines: a deny constrained on a missing attribute does not apply.
    assert allows('ListObjects()\ndeny ListObjects(path="secret/*")', "ListObjects", {})


def test_unknown_attributes_are_optimistic_for_allow_and_ignored_for_deny() -> None:
    unknown = frozenset({"group"})
    # The name arrives in the body: an allow line constrained on it may apply...
    assert allows('CreateGroup(group="team-*")', "CreateGroup", unknown=unknown)
    # ...a deny line constrained on it may not (the exact check happens later).
    assert allows('CreateGroup()\ndeny CreateGroup(group="admin*")', "CreateGroup", unknown=unknown)
    # An unconstrained deny still applies.
    assert not allows("CreateGroup()\ndeny CreateGroup()", "CreateGroup", unknown=unknown)
    # Once known, the exact check decides.
    assert not allows('CreateGroup(group="team-*")', "CreateGroup", {"group": "ops"})
    assert not allows(
        'CreateGroup()\ndeny CreateGroup(group="admin*")', "CreateGroup", {"group": "admins"}
    )


def test_agent_owner_self_means_the_principal_being_checked() -> None:
    text = 'UpdateAgent(agent_owner="self")'
    assert allows(text, "UpdateAgent", {"agent": "a", "agent_owner": "u1"}, self_id="u1")
    assert not allows(text, "UpdateAgent", {"agent": "a", "agent_owner": "u1"}, self_id="u2")
    assert errors_of('UpdateAgent(agent_owner="*")') == [(1, 13, 'agent_owner only accepts "self"')]


# -- Tilde's published form: `GetObject (path: "/data/*")` ---------------------------------


def test_tildes_published_form_means_the_same_as_the_native_one() -> None:
    published = (
        'GetObject (path: "/data/*")\ndeny  DeleteObject ( repository: "prod-*" , path:"/x/*" )'
    )
    native = 'GetObject(path="data/*")\ndeny DeleteObject(repository="prod-*", path="x/*")'
    ours, errors = parse(published)
    assert errors == []
    assert [(s.effect, s.action, s.conditions) for s in ours] == [
        (s.effect, s.action, s.conditions) for s in parse(native)[0]
    ]
    inside = {"repository": "r", "path": "data/2024/a.csv"}
    assert allows(published, "GetObject", inside)
    assert not allows(published, "GetObject", {"repository": "r", "path": "other/a.csv"})
    assert not allows(published, "GetObject", {"repository": "r", "path": "/data/a.csv"})


def test_both_forms_mix_on_one_line_and_across_lines() -> None:
    text = 'PutObject (repository="data", path: "/raw/*")\nListObjects(path: "/")\n'
    (put, listing), errors = parse(text)
    assert errors == []
    assert put.conditions == (("repository", "data"), ("path", "raw/*"))
    # "/" is the repository root: a listing of the whole repository (prefix "").
    assert listing.conditions == (("path", ""),)
    assert allows(text, "ListObjects", {"repository": "data", "path": ""})
    assert not allows(text, "ListObjects", {"repository": "data", "path": "raw/"})


def test_a_leading_slash_is_stripped_from_path_patterns_only() -> None:
    # Repository names never start with '/': the pattern stays as written (and matches none).
    assert parse('GetObject(repository: "/data")')[0][0].conditions == (("repository", "/data"),)
    assert not allows('GetObject(repository: "/data")', "GetObject", {"repository": "data"})
    # One leading '/' is the root; the rest of the pattern is kept (and still a glob).
    assert parse('GetObject(path="/*")')[0][0].conditions == (("path", "*"),)
    assert allows('GetObject(path: "/*")', "GetObject", {"repository": "r", "path": "a/b"})


def test_published_form_errors_keep_their_line_and_column() -> None:
    text = 'GetObject (path: "/data/*")\n  PutObject (path: "/a/*", bogus: "x")\nNope (path: "/")'
    assert errors_of(text) == [
        (2, 28, "'bogus' does not apply to PutObject (attributes: path, repository)"),
        (3, 1, "unknown action 'Nope'"),
    ]
