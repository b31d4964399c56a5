"""Route templates, matching, precedence, and 404 versus 405 (``extkit.routing``)."""

from __future__ import annotations

import decimal

import pytest

from extkit.routing import Resolution, RouteError, Router, RouteTemplate, split_path


def router(*routes: tuple[str, str, list[str] | None], prefix: str = "api") -> Router[str]:
    made: Router[str] = Router(prefix)
    for template, target, methods in routes:
        made.add(template, target, methods)
    return made


def test_literal_route_matches_case_insensitively_and_ignores_a_trailing_slash() -> None:
    r = router(("Orders/Recent", "recent", None))
    assert r.resolve("GET", "/api/orders/recent/") == Resolution(200, "recent", {})
    assert r.resolve("get", "/API/ORDERS/RECENT").target == "recent"


def test_parameters_fill_route_params_with_decoded_text() -> None:
    r = router(("items/{id}", "item", None))
    assert r.resolve("GET", "/api/items/a%20b").params == {"id": "a b"}


def test_an_encoded_slash_stays_inside_its_segment() -> None:
    r = router(("files/{name}", "file", None))
    assert r.resolve("GET", "/api/files/a%2Fb").params == {"name": "a/b"}
    assert r.resolve("GET", "/api/files/a/b").status == 404


@pytest.mark.parametrize(
    ("template", "raw", "value"),
    [
        ("{v:int}", "-42", -42),
        ("{v:long}", "9000000000", 9000000000),
        ("{v:float}", "2.5", 2.5),
        ("{v:double}", "1e3", 1000.0),
        ("{v:decimal}", "0.10", decimal.Decimal("0.10")),
        ("{v:bool}", "True", True),
        ("{v:bool}", "false", False),
        ("{v:alpha}", "abcXYZ", "abcXYZ"),
        (
            "{v:guid}",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        ),
        ("{v:int:min(1)}", "1", 1),
        ("{v:range(1,3)}", "3", "3"),
        ("{v:length(2)}", "ab", "ab"),
    ],
)
def test_typed_constraints_convert_the_value(template: str, raw: str, value: object) -> None:
    r = router((f"x/{template}", "x", None))
    found = r.resolve("GET", f"/api/x/{raw}")
    assert found.status == 200
    assert found.params == {"v": value}
    assert type(found.params["v"]) is type(value)


@pytest.mark.parametrize(
    ("template", "raw"),
    [
        ("{v:int}", "12a"),
        ("{v:int}", "99999999999"),  # int is 32-bit, as in the reference
        ("{v:float}", "nan"),
        ("{v:bool}", "yes"),
        ("{v:alpha}", "abc1"),
        ("{v:guid}", "not-a-guid"),
        ("{v:int:min(1)}", "0"),
        ("{v:maxlength(2)}", "abc"),
    ],
)
def test_a_value_that_does_not_fit_its_constraint_is_404(template: str, raw: str) -> None:
    r = router((f"x/{template}", "x", None))
    assert r.resolve("GET", f"/api/x/{raw}").status == 404


def test_another_route_may_match_when_a_constraint_does_not() -> None:
    r = router(("items/{id:int}", "by-id", None), ("items/{name}", "by-name", None))
    assert r.resolve("GET", "/api/items/7").target == "by-id"
    assert r.resolve("GET", "/api/items/seven").target == "by-name"


def test_precedence_literal_beats_constrained_beats_plain_whatever_the_declaration_order() -> None:
    r = router(
        ("items/{name}", "plain", None),
        ("items/{id:int}", "constrained", None),
        ("items/recent", "literal", None),
    )
    assert r.resolve("GET", "/api/items/recent").target == "literal"
    assert r.resolve("GET", "/api/items/5").target == "constrained"
    assert r.resolve("GET", "/api/items/other").target == "plain"


def test_wrong_method_is_405_listing_every_matching_routes_methods() -> None:
    r = router(
        ("items/{id:int}", "read", ["GET"]),
        ("items/{id}", "write", ["PUT", "delete"]),
        ("other", "o", ["POST"]),
    )
    found = r.resolve("PATCH", "/api/items/5")
    assert found.status == 405
    assert found.allowed == ("DELETE", "GET", "PUT")
    assert r.resolve("PUT", "/api/items/5").target == "write"


def test_unknown_path_is_404_not_405() -> None:
    r = router(("items", "items", ["GET"]))
    assert r.resolve("POST", "/api/nothing").status == 404
    assert r.resolve("POST", "/api/items").status == 405


def test_no_methods_means_every_method() -> None:
    r = router(("any", "any", None))
    assert all(r.resolve(m, "/api/any").status == 200 for m in ("GET", "POST", "DELETE", "PATCH"))


def test_optional_default_and_catch_all_parameters() -> None:
    r = router(
        ("page/{n:int=1}", "page", None),
        ("opt/{name?}", "opt", None),
        ("static/{*path}", "static", None),
    )
    assert r.resolve("GET", "/api/page").params == {"n": 1}
    assert r.resolve("GET", "/api/page/4").params == {"n": 4}
    assert r.resolve("GET", "/api/opt").params == {}
    assert r.resolve("GET", "/api/opt/x").params == {"name": "x"}
    assert r.resolve("GET", "/api/static/css/site.css").params == {"path": "css/site.css"}
    assert r.resolve("GET", "/api/static").params == {}
    assert r.resolve("GET", "/api/opt/x/y").status == 404


def test_a_route_that_is_one_catch_all_takes_every_path_under_the_prefix() -> None:
    """The route of a whole web framework (``AsgiFunctionApp``); with a constraint or a default
    the catch-all still applies them."""
    r = router(("{*route}", "app", None))
    assert r.resolve("GET", "/api").params == {}
    assert r.resolve("GET", "/api/").params == {}
    assert r.resolve("GET", "/api/shop/caf%C3%A9/").params == {"route": "shop/café"}
    assert r.resolve("GET", "/other").status == 404
    assert r.resolve("GET", "/api//x").status == 404
    limited = router(("{*route:minlength(4)}", "app", None))
    assert limited.resolve("GET", "/api/abc").status == 404
    assert limited.resolve("GET", "/api/ab/c").params == {"route": "ab/c"}
    defaulted = router(("{*route=index}", "app", None))
    assert defaulted.resolve("GET", "/api").params == {"route": "index"}
    assert defaulted.resolve("GET", "/api/a/b").params == {"route": "a/b"}


def test_literal_routes_win_over_a_whole_app_catch_all() -> None:
    r = router(("{*route}", "app", None), ("health", "health", ["GET"]))
    assert r.resolve("GET", "/API/Health/").target == "health"
    found = r.resolve("POST", "/api/health")  # not the literal route's method: the app's
    assert (found.target, found.params) == ("app", {"route": "health"})
    assert r.resolve("GET", "/API/Shop/Cart").params == {"route": "Shop/Cart"}
    assert r.resolve("GET", "/apis/shop").status == 404
    bare = router(("{*route}", "app", None), prefix="")
    assert bare.resolve("GET", "/").params == {}
    assert bare.resolve("GET", "/x/y").params == {"route": "x/y"}
    methods = router(("{*route}", "app", ["GET"]))  # not every method: the general way
    assert methods.resolve("POST", "/api/x").status == 405
    assert methods.resolve("GET", "/api/x").params == {"route": "x"}


def test_complex_segment_gives_the_earlier_parameter_the_most() -> None:
    r = router(("files/{name}.{ext}", "file", None))
    assert r.resolve("GET", "/api/files/archive.tar.gz").params == {
        "name": "archive.tar",
        "ext": "gz",
    }
    assert r.resolve("GET", "/api/files/noext").status == 404


def test_route_prefix_is_required_and_may_be_empty() -> None:
    r = router(("hello", "hello", None))
    assert r.resolve("GET", "/hello").status == 404
    assert r.resolve("GET", "/api").status == 404
    bare = router(("hello", "hello", None), prefix="")
    assert bare.resolve("GET", "/hello").target == "hello"
    nested = router(("hello", "hello", None), prefix="/v1/api/")
    assert nested.resolve("GET", "/v1/api/hello").target == "hello"


def test_empty_segments_and_bad_encoding_are_404() -> None:
    r = router(("a/{b}", "x", None))
    assert r.resolve("GET", "/api/a/x/").params == {"b": "x"}  # a trailing slash is ignored
    assert r.resolve("GET", "/api//a/b").status == 404
    assert r.resolve("GET", "/api/a/%ff").status == 404


def test_split_path() -> None:
    assert split_path("/") == []
    assert split_path("/a/b%2Fc/") == ["a", "b/c"]
    assert split_path("/a//b") is None
    assert split_path("/a/b/") == ["a", "b"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{id:foo}", "unknown constraint 'foo'"),
        ("{id:min(a)}", "takes 1 whole-number argument"),
        ("{id}/{ID}", "repeats"),
        ("{a?}/b", "only the last segments may be optional"),
        ("x/{*rest}/y", "must be last"),
        ("{a{b}", "is not valid"),
        ("a//b", "empty segment"),
        ("x?y=1", "query string"),
        ("{n:int=abc}", "does not fit its constraints"),
        ("x-{name?}", "must be a whole segment"),
    ],
)
def test_invalid_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(RouteError, match=message) as raised:
        RouteTemplate(template)
    assert repr(template) in str(raised.value)


def test_colliding_routes_are_an_error_unless_their_methods_differ() -> None:
    r = router(("items/{id:int}", "a", ["GET"]))
    r.add("items/{other:int}", "b", ["POST"])  # same path, other methods: fine
    with pytest.raises(RouteError, match="collides"):
        r.add("Items/{x:int}", "c", ["get"])
    with pytest.raises(RouteError, match="collides"):
        r.add("items/{x:int}", "d", None)
    r.add("items/{x:alpha}", "e", ["GET"])  # other constraint: another shape
