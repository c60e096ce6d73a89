"""Trip accounting (跑动次数) for every channel x delivery mode, same-visit hand-over and in-person 补正."""

from __future__ import annotations

import pytest

from services.trips import TripCount, count_trips

EXPECTED = {
    ("window", "window"): 2,  # 现场申请+现场取件: two visits unless handed over in the same visit
    ("window", "post"): 1,  # 现场申请+邮寄送达
    ("window", "online"): 1,
    ("post", "window"): 1,  # 邮寄申请+现场取件
    ("post", "post"): 0,  # 邮寄取送
    ("post", "online"): 0,
    ("online", "window"): 1,  # 网上申请+现场取件
    ("online", "post"): 0,
    ("online", "online"): 0,  # 网上办理
}


@pytest.mark.parametrize(("channel", "mode"), sorted(EXPECTED))
def test_every_channel_and_delivery_mode(channel, mode):
    tc = count_trips(channel, mode)
    assert isinstance(tc, TripCount)
    assert tc.trips == EXPECTED[(channel, mode)]
    assert tc.meets_run_once is (tc.trips <= 1)
    assert tc.zero_trip is (tc.trips == 0)
    assert tc.reasons and all(any("\u4e00" <= ch <= "\u9fff" for ch in r) for r in tc.reasons)
    assert len([r for r in tc.reasons if "计 1 次跑动" in r]) == tc.trips


def test_window_window_over_one_is_flagged_with_a_reason():
    tc = count_trips("window", "window")
    assert (tc.trips, tc.meets_run_once, tc.zero_trip) == (2, False, False)
    assert "超过“只跑一次”" in tc.reasons[-1]


def test_same_visit_handover_makes_window_window_one_trip():
    tc = count_trips("window", "window", same_visit_handover=True)
    assert (tc.trips, tc.meets_run_once) == (1, True)
    assert any("即办" in r for r in tc.reasons)


@pytest.mark.parametrize(("channel", "mode"), [("post", "window"), ("online", "window"), ("window", "post")])
def test_same_visit_handover_only_applies_to_window_window(channel, mode):
    tc = count_trips(channel, mode, same_visit_handover=True)
    assert tc.trips == EXPECTED[(channel, mode)]
    assert any("已忽略" in r for r in tc.reasons) or mode == "window"


@pytest.mark.parametrize(("channel", "mode"), sorted(EXPECTED))
def test_each_in_person_supplement_adds_a_trip(channel, mode):
    base = EXPECTED[(channel, mode)]
    tc = count_trips(channel, mode, in_person_supplements=1)
    assert tc.trips == base + 1
    assert tc.meets_run_once is (base + 1 <= 1)
    assert any("补正" in r for r in tc.reasons)
    if base + 1 > 1:
        assert "超过" in tc.reasons[-1]


def test_supplements_and_extra_visits_add_up():
    tc = count_trips("window", "window", same_visit_handover=True, in_person_supplements=2, extra_visits=1)
    assert (tc.trips, tc.meets_run_once, tc.zero_trip) == (4, False, False)
    assert "共跑动 4 次" in tc.reasons[-1]


def test_zero_trip_modes():
    for channel, mode in [("online", "online"), ("post", "post"), ("online", "post")]:
        tc = count_trips(channel, mode)
        assert tc.zero_trip and tc.meets_run_once
        assert any("零跑动" in r for r in tc.reasons)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("fax", "post"), {}, "申请方式"),
        (("window", "courier"), {}, "送达方式"),
        (("window", "post"), {"in_person_supplements": -1}, "in_person_supplements"),
        (("window", "post"), {"extra_visits": True}, "extra_visits"),
    ],
)
def test_bad_input_is_rejected(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        count_trips(*args, **kwargs)
