"""Trip accounting (跑动次数) under the run-once (只跑一次) rules. Pure: no I/O.

A trip (跑动) is one physical visit by the applicant to the window: to apply, to bring materials, to collect the
result. Modes named in the 2018 plan (吉环法字〔2018〕3号, item 8):

    现场申请 + 邮寄送达   window + post    1 trip
    邮寄申请 + 现场取件   post   + window  1 trip
    网上申请 + 现场取件   online + window  1 trip
    现场申请 + 现场取件   window + window  2 trips, or 1 when the result is handed over in the same visit (即办)
    网上办理 / 邮寄取送   online|post + online|post  0 trips (零跑动)

Every 补正 (supplement) the applicant had to bring in person adds one trip, and so does any other recorded visit
(also after the result was delivered, e.g. m08's cancellation handed in at the window).
A case meets run-once when it took at most one trip.

The service layer decides 即办 from the dates (the pick-up on the day of the application), not from a checkbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.errors import N_

CHANNELS = {"window": "现场申请", "post": "邮寄申请", "online": "网上申请"}
DELIVERY_MODES = {"window": "现场取件", "post": "邮寄送达", "online": "网上下载"}
RUN_ONCE_LIMIT = 1


@dataclass(frozen=True)
class TripCount:
    trips: int
    meets_run_once: bool  # trips <= 1
    zero_trip: bool  # trips == 0 (零跑动)
    reasons: list[str] = field(default_factory=list)  # Chinese, one line per counted trip (+ why over one)
    # The same lines as English message ids with their values, for pages in another language.
    reason_ids: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def count_trips(
    channel: str,
    delivery_mode: str,
    *,
    same_visit_handover: bool = False,
    in_person_supplements: int = 0,
    extra_visits: int = 0,
    result_delivered: bool = True,
) -> TripCount:
    """Count the applicant's trips for one case.

    channel: how the application came in (window/post/online); delivery_mode: how the result goes out
    (window/post/online); same_visit_handover: the result was handed over during the application visit (即办,
    only meaningful for window + window); in_person_supplements: 补正 rounds the applicant brought to the window;
    extra_visits: any other recorded visit (e.g. revised materials brought in person); result_delivered: False
    when the case ended without a result to collect (not accepted, withdrawn): no pick-up trip is counted.
    An open case counts its planned pick-up.
    """
    if channel not in CHANNELS:
        raise ValueError(f"未知的申请方式 channel={channel!r}，应为 {sorted(CHANNELS)} 之一")
    if delivery_mode not in DELIVERY_MODES:
        raise ValueError(f"未知的送达方式 delivery_mode={delivery_mode!r}，应为 {sorted(DELIVERY_MODES)} 之一")
    for name, value in (("in_person_supplements", in_person_supplements), ("extra_visits", extra_visits)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} 必须是非负整数，收到 {value!r}")

    trips = 0
    reasons: list[str] = []
    ids: list[tuple[str, dict[str, Any]]] = []

    def say(chinese: str, msgid: str, **values: Any) -> None:
        reasons.append(chinese)
        ids.append((msgid, values))

    mode = f"{CHANNELS[channel]}+{DELIVERY_MODES[delivery_mode]}"
    if channel == "window":
        trips += 1
        say("现场申请：申请人到窗口递交申请材料，计 1 次跑动",
            N_("Applied at the window: the applicant brought the application, 1 trip"))
    pickup = delivery_mode == "window" and result_delivered
    if delivery_mode == "window" and not result_delivered:
        say("未送达办理结果（不予受理或撤回），不计取件跑动",
            N_("No result was delivered (not accepted or withdrawn): no trip to collect it"))
    if pickup:
        if channel == "window" and same_visit_handover:
            say("当场办结、当场领取（即办）：领取与申请为同一次到窗口，不另计跑动",
                N_("Completed and collected on the spot: collecting was the same visit as applying, no extra trip"))
        else:
            trips += 1
            say("现场取件：申请人到窗口领取办理结果，计 1 次跑动",
                N_("Collected at the window: the applicant came for the result, 1 trip"))
    elif same_visit_handover:
        say("“当场领取”仅适用于现场申请+现场取件，本件不适用，已忽略",
            N_("“Collected on the spot” applies only to applying and collecting at the window; ignored here"))
    if channel != "window" and not pickup:
        say(f"{mode}：申请和取件均无需到窗口（零跑动）",
            N_("%(channel)s and %(delivery)s: no trip to the window to apply or to collect (zero trips)"),
            channel=channel, delivery=delivery_mode)
    if in_person_supplements:
        trips += in_person_supplements
        say(f"补正材料由申请人到窗口递交 {in_person_supplements} 次，每次计 1 次跑动",
            N_("Missing materials brought to the window %(n)s times, 1 trip each"), n=in_person_supplements)
    if extra_visits:
        trips += extra_visits
        say(f"其他到窗口递交材料 {extra_visits} 次，每次计 1 次跑动",
            N_("Other materials brought to the window %(n)s times, 1 trip each"), n=extra_visits)
    if trips > RUN_ONCE_LIMIT:
        say(f"共跑动 {trips} 次，超过“只跑一次”的上限（{RUN_ONCE_LIMIT} 次），未达到“只跑一次”",
            N_("%(n)s trips in all, over the run-once limit of %(limit)s: run-once not met"),
            n=trips, limit=RUN_ONCE_LIMIT)
    return TripCount(trips=trips, meets_run_once=trips <= RUN_ONCE_LIMIT, zero_trip=trips == 0, reasons=reasons,
                     reason_ids=ids)


HANDOVER_NOT_SAME_DAY = N_("Recorded as collected on the spot, but collected on %(pickup)s and applied on %(applied)s: "
                           "two visits")


def handover_not_same_day(pickup_date: str | None, registered_on: str | None) -> str:
    """The reason line when the form says 当场领取 but the dates say otherwise."""
    pickup, applied = pickup_date or "未填", registered_on or "未知"
    return f"登记为“当场领取”，但领取日期（{pickup}）与申请日期（{applied}）不是同一天，按两次到窗口计"
