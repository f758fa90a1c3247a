"""The candidate's share of requests: exact in every 100, without a periodic pattern."""

from __future__ import annotations

import pytest

from mlmodel_server.canary.weights import WeightedChoice


def picks(choice: WeightedChoice, n: int) -> list[bool]:
    return [choice.candidate() for _ in range(n)]


@pytest.mark.parametrize("percent", [1, 10, 33, 50, 90, 99])
def test_ten_thousand_requests_land_exactly_on_the_weight(percent):
    assert sum(picks(WeightedChoice(percent, seed=7), 10_000)) == 100 * percent


def test_every_block_of_a_hundred_holds_the_share():
    chosen = picks(WeightedChoice(10, seed=1), 10_000)
    assert {sum(chosen[i : i + 100]) for i in range(0, 10_000, 100)} == {10}


@pytest.mark.parametrize("n", [1, 7, 55, 101, 999, 1234])
def test_the_share_never_drifts_by_more_than_one_block(n):
    """Wherever a client stops counting, it has seen the weight within `percent` requests."""
    assert abs(sum(picks(WeightedChoice(10, seed=3), n)) - n / 10) <= 10


def test_a_client_alternating_two_kinds_of_request_sends_both_to_the_candidate():
    """A fixed every-tenth pattern would give the candidate only the even requests."""
    chosen = picks(WeightedChoice(10, seed=11), 10_000)
    odd, even = sum(chosen[1::2]), sum(chosen[0::2])
    assert 400 <= odd <= 600 and 400 <= even <= 600


@pytest.mark.parametrize(("percent", "expected"), [(0, 0), (100, 1000)])
def test_none_and_all(percent, expected):
    assert sum(picks(WeightedChoice(percent), 1000)) == expected


def test_a_seed_repeats_the_sequence_and_processes_differ_without_one():
    assert picks(WeightedChoice(10, seed=5), 300) == picks(WeightedChoice(10, seed=5), 300)
    assert picks(WeightedChoice(10), 300) != picks(WeightedChoice(10), 300)


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_share_outside_0_to_100_is_refused(percent):
    with pytest.raises(ValueError, match="between 0 and 100"):
        WeightedChoice(percent)
