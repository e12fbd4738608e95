"""Lazy purge rules: coverage by exact path, query, prefix and tag; born positions; compaction."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from invalidator.domain.paths import parse_item
from invalidator.edge.cache import EdgeCache
from invalidator.edge.freshness import Freshness
from invalidator.edge.purge import PurgeRules

FOREVER = Freshness(storable=True, ttl=10**9)


def rules_with(*items: tuple[str, int]) -> PurgeRules:
    rules = PurgeRules()
    for raw, pos in items:
        rules.add(parse_item(raw, tags_allowed=True), pos)
    return rules


def test_exact_path_covers_every_query_variant() -> None:
    """`/a` covers `/a` with any query; not `/ab` or `/a/b`."""
    rules = rules_with(("/a", 5))
    assert rules.is_stale("/a", "", frozenset(), 4)
    assert rules.is_stale("/a", "v=1", frozenset(), 4)
    assert not rules.is_stale("/ab", "", frozenset(), 4)
    assert not rules.is_stale("/a/b", "", frozenset(), 4)


def test_only_entries_born_before_the_rule_are_stale() -> None:
    """A rule at pos 5 makes entries born at 4 stale, not those born at 5 or later."""
    rules = rules_with(("/a", 5))
    assert rules.is_stale("/a", "", frozenset(), 4)
    assert not rules.is_stale("/a", "", frozenset(), 5)
    assert not rules.is_stale("/a", "", frozenset(), 9)


def test_path_with_query_covers_only_that_query() -> None:
    """`/a?v=1` covers that variant only."""
    rules = rules_with(("/a?v=1", 3))
    assert rules.is_stale("/a", "v=1", frozenset(), 0)
    assert not rules.is_stale("/a", "v=2", frozenset(), 0)
    assert not rules.is_stale("/a", "", frozenset(), 0)


def test_an_item_with_a_query_covers_a_partially_keyed_copy_of_its_path() -> None:
    """A copy keyed on none or some of the query serves every query of its path: `/a?x=1`,
    or a wildcard with a query, covers it whatever query its key holds; a fully keyed copy
    only when its query is the one named."""
    for item in ("/a?x=1", "/a?k=1&*", "/a?*"):
        rules = rules_with((item, 3))
        assert rules.is_stale("/a", "", frozenset(), 0, partial_query=True), item
        assert rules.is_stale("/a", "k=2", frozenset(), 0, partial_query=True), item
        assert not rules.is_stale("/a", "", frozenset(), 0), item
        assert rules.is_stale("/a", "k=2", frozenset(), 0) == (item == "/a?*"), item
        assert not rules.is_stale("/a", "", frozenset(), 3, partial_query=True), item
        assert not rules.is_stale("/b", "", frozenset(), 0, partial_query=True), item
    rules = rules_with(("/a?x=1", 3))
    assert rules.compact(3) == 1 and not rules.is_stale("/a", "", frozenset(), 0, True)
    assert rules.bytes == 0


def test_an_item_with_dot_segments_covers_the_path_they_resolve_to() -> None:
    """Viewers' `/x/../dot` is keyed `/dot`: the item `/x/../dot` (or `/x/%2E%2E/dot`, or a
    wildcard) covers `/dot`, and still its own spelling."""
    for item, covered in (("/x/../dot", "/dot"), ("/x/%2E%2E/dot", "/dot"),
                          ("/a/./b/../c*", "/a/c/d"), ("/x/../q?v=1", "/q")):  # fmt: skip
        rules = rules_with((item, 3))
        query = "v=1" if "?" in item else ""
        assert rules.is_stale(covered, query, frozenset(), 0), item
        assert not rules.is_stale("/elsewhere", query, frozenset(), 0), item
    assert rules_with(("/x/../dot", 3)).is_stale("/x/../dot", "", frozenset(), 0)


def test_percent_encoded_and_raw_spellings_match() -> None:
    """Rules compare decoded spellings: `/a%20b` covers the object `/a b`."""
    rules = rules_with(("/a%20b", 1), ("/q?x=%41", 1))
    assert rules.is_stale("/a b", "", frozenset(), 0)
    assert rules.is_stale("/q", "x=A", frozenset(), 0)


def test_wildcards() -> None:
    """`prefix*` covers every target starting with the prefix, query included."""
    rules = rules_with(("/img/*", 2), ("/p*", 2), ("/s?x=1*", 2))
    assert rules.is_stale("/img/a.png", "", frozenset(), 1)
    assert rules.is_stale("/img/", "q=1", frozenset(), 1)
    assert rules.is_stale("/pictures", "", frozenset(), 1)
    assert rules.is_stale("/s", "x=12", frozenset(), 1)
    assert not rules.is_stale("/s", "y=1", frozenset(), 1)
    assert not rules.is_stale("/img", "", frozenset(), 1)
    assert rules_with(("/*", 2)).is_stale("/anything", "", frozenset(), 1)


def test_tags_are_case_insensitive() -> None:
    """`#Product-1` covers objects tagged product-1."""
    rules = rules_with(("#Product-1", 4))
    assert rules.is_stale("/x", "", frozenset({"other", "product-1"}), 3)
    assert not rules.is_stale("/x", "", frozenset({"product-2"}), 3)


def test_later_rule_keeps_the_highest_position() -> None:
    """Re-adding a rule at a lower position never lowers it."""
    rules = rules_with(("/a", 9), ("/a", 3), ("/b*", 9), ("/b*", 2))
    assert rules.is_stale("/a", "", frozenset(), 5)
    assert rules.is_stale("/bc", "", frozenset(), 5)


def test_compact_drops_rules_no_live_entry_needs() -> None:
    """compact(floor) keeps exactly the rules with pos > floor."""
    rules = rules_with(("/a", 2), ("/b*", 3), ("/c*", 8), ("#t", 4), ("/d?x", 6))
    assert rules.compact(4) == 3
    assert len(rules) == 2
    assert not rules.is_stale("/bz", "", frozenset(), 0)
    assert rules.is_stale("/cz", "", frozenset(), 4)
    assert rules.is_stale("/d", "x", frozenset(), 4)
    assert rules.compact(100) == 2
    assert rules.max_pos == -1


PATHS = ["/a", "/a b", "/ab", "/img/x", "/img/y", "/other"]
QUERIES = ["", "v=1", "v=2"]
TAGS = ["red", "blue"]
ITEMS = [
    "/a", "/a%20b", "/a?v=1", "/img/*", "/a*", "/*", "/img/x?v=2", "#red", "#BLUE", "/other",
]  # fmt: skip

op = st.one_of(
    st.tuples(
        st.just("store"),
        st.sampled_from(PATHS),
        st.sampled_from(QUERIES),
        st.frozensets(st.sampled_from(TAGS)),
    ),
    st.tuples(
        st.just("start"),
        st.sampled_from(PATHS),
        st.sampled_from(QUERIES),
        st.frozensets(st.sampled_from(TAGS)),
    ),
    st.tuples(st.just("finish"), st.integers(0, 10)),
    st.tuples(st.just("purge"), st.lists(st.sampled_from(ITEMS), min_size=1, max_size=3)),
    st.tuples(st.just("sweep"), st.integers(1, 5)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=60))
def test_nothing_purged_after_birth_is_ever_served(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    """Random stores, in-flight fetches, purges and sweeps vs a naive model of every purge."""
    cache = EdgeCache(max_bytes=10**7, max_object_bytes=10**6)
    pos = 0
    purges: list[tuple[int, list[str]]] = []
    fetches: list[tuple[str, str, frozenset[str], int, object]] = []
    born: dict[tuple[str, str], tuple[int, frozenset[str]]] = {}

    def purged_since(path: str, query: str, tags: frozenset[str], since: int) -> bool:
        return any(
            p > since and parse_item(raw, tags_allowed=True).matches(path, query, tags)
            for p, raws in purges
            for raw in raws
        )

    def store(path: str, query: str, tags: frozenset[str], born_pos: int) -> None:
        stored = cache.store("d", path, query, {}, status=200, headers=[], body=path.encode(),
                             freshness=FOREVER, born_pos=born_pos, tags=tags)  # fmt: skip
        assert stored == (not purged_since(path, query, tags, born_pos))
        if stored:
            born[(path, query)] = (born_pos, tags)

    for step in ops:
        if step[0] == "store":
            store(step[1], step[2], step[3], pos)
        elif step[0] == "start":
            guard = cache.fetching(pos)
            guard.__enter__()
            fetches.append((step[1], step[2], step[3], pos, guard))
        elif step[0] == "finish" and fetches:
            path, query, tags, born_pos, guard = fetches.pop(step[1] % len(fetches))
            store(path, query, tags, born_pos)
            guard.__exit__(None, None, None)  # type: ignore[attr-defined]
        elif step[0] == "purge":
            pos += 1
            purges.append((pos, step[1]))
            cache.purge("d", step[1], pos)
        elif step[0] == "sweep":
            cache.sweep(step[1])
        for (path, query), (born_pos, tags) in list(born.items()):
            served = cache.lookup("d", path, query, {})
            if purged_since(path, query, tags, born_pos):
                assert served is None, (path, query, born_pos)
                del born[(path, query)]
            else:
                assert served is not None and served.body == path.encode()


def test_entries_are_judged_by_their_decoded_spelling() -> None:
    """Cache keys keep percent-encodings; rules match them decoded (raw and encoded alike)."""
    rules = rules_with(("/a b", 1), ("/x/y", 1), ("/q?k=a&b", 1), ("/w/*", 1))
    assert rules.is_stale("/a%20b", "", frozenset(), 0)
    assert rules.is_stale("/x%2Fy", "", frozenset(), 0)  # over-matching is safe
    assert rules.is_stale("/q", "k=a%26b", frozenset(), 0)
    assert rules.is_stale("/w%2Fz", "", frozenset(), 0)
    assert not rules.is_stale("/a%2520b", "", frozenset(), 0)


def test_rule_bytes_follow_adds_and_compaction() -> None:
    """Rules report the memory they hold; compaction gives it back."""
    rules = rules_with(("/a", 1), ("/b*", 2), ("#t", 3), ("/c?x", 4))
    assert rules.bytes > 4 * 100
    rules.add(parse_item("/a", tags_allowed=True), 5)  # a known rule costs nothing more
    before = rules.bytes
    rules.compact(4)
    assert 0 < rules.bytes < before
    rules.compact(10)
    assert rules.bytes == 0
