"""How a "no such add-on / stack" error names the ones there are (:func:`kaddons.errors.known`): all of them when
few, else the nearest and the count, so that a cluster of 300 add-ons still gets a one-line error a person reads."""

from __future__ import annotations

from kaddons.errors import known


def test_a_few_names_are_listed_in_full() -> None:
    assert known("add-ons", ["headlamp", "kyverno"], "nope") == "add-ons: headlamp, kyverno"
    assert known("catalog addons", [], "nope") == "catalog addons: none"


def test_many_names_give_the_count_and_the_nearest_names_starting_with_it_first() -> None:
    names = [f"a{n:03d}" for n in range(300)]
    assert known("add-ons", names, "A001") == "300 add-ons; nearest: a001, a000, a002"  # case ignored
    stacks = [f"stack-{n:02d}" for n in range(30)]
    assert known("stacks", stacks, "stack-0") == "30 stacks; nearest: stack-00, stack-01, stack-02"


def test_many_names_and_nothing_near_give_the_count_only() -> None:
    assert known("add-ons", [f"a{n:03d}" for n in range(300)], "kyverno") == "300 add-ons"
