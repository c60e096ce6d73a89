"""Definitions that drew the first version of every diagram in ``workflows/``.

Redraw (overwrites hand edits made in a modeler; check ``git diff`` afterwards):

    .venv/bin/python -m workflows.tools.diagrams            # all diagrams
    .venv/bin/python -m workflows.tools.diagrams m08 shared  # only some (prefix match on the file stem)
"""

from __future__ import annotations

import sys
from pathlib import Path

from workflows.tools.bpmngen import Diagram

WORKFLOWS = Path(__file__).resolve().parent.parent

# lane id suffix (= unit code in catalog.toml) for every lane name (= the unit's Chinese name)
LANE_IDS = {
    "审批办": "approval_office",
    "环评处": "eia",
    "土壤处": "soil",
    "核安全局": "nuclear_safety",
    "生态处": "ecology",
    "辐射站": "radiation_station",
    "固废中心": "solid_waste_centre",
    "法规处": "regulations",
    "厅领导": "leadership",
}
WIN = "审批办"
LEAD = "厅领导"


def lanes(*names: str) -> list[tuple[str, str]]:
    return [(LANE_IDS[n], n) for n in names]


def notice_end_script(prefix: str) -> str:
    """Copy the notice just published to keys of its own and fix the moment the notice period is over."""
    return (
        f"{prefix}_notice_url = notice_url\n"
        f"{prefix}_notice_start = notice_start\n"
        f"{prefix}_notice_end = notice_end\n"
        f'{prefix}_notice_end_at = notice_end + "T23:59:59+08:00"\n'
    )


COUNT_REVISION = (
    "revision_rounds = revision_rounds + 1\n"
    'if revision_channel == "window":\n'
    "    extra_visits = extra_visits + 1\n"
)

DOC = {
    "check_materials": (
        "审查申请材料是否齐全、是否符合法定形式（《行政许可法》第三十二条）。"
        "材料齐全、符合法定形式的，予以受理；材料不齐全或不符合法定形式的，选择“一次性告知补正”，"
        "在下一步一次列明全部需补正的内容；不属于本部门职权范围或依法不需要取得许可的，选择“不予受理”。"
        "应当场或在五日内作出处理，逾期不告知的，自收到材料之日起即为受理。"
    ),
    "notify_supplement": (
        "一次性告知申请人需要补正的全部内容：在清单中勾选所有缺少或不符合要求的材料，并在说明中逐项写明补正要求。"
        "不得分次告知。告知书应注明日期并送达申请人。"
    ),
    "approve_second_notice": (
        "申请人已按一次性告知书补正，窗口审查后认为仍需补正：再次告知违背“一次性告知”（《行政许可法》第三十二条），"
        "须经审批办负责人批准。写明首次告知未能列明的原因（例如补正材料本身产生的新问题）。"
        "同意的，由窗口再次出具告知书，本件标记为“二次告知”并计入该事项“只跑一次”统计；"
        "不同意的，退回窗口重新审查，依法予以受理或不予受理。"
    ),
    "receive_supplement": (
        "登记申请人提交的补正材料。请如实选择补正材料的提交方式：申请人本人到窗口递交的，计入跑动次数。"
        "申请人书面撤回申请或明确放弃补正的，选择“撤回申请”。"
    ),
    "issue_acceptance": "出具加盖本部门专用印章并注明日期的受理通知书；完成本任务时系统生成受理通知书并自动编号。",
    "issue_refusal": (
        "出具加盖本部门专用印章并注明日期的不予受理通知书，写明不予受理的理由和依据；"
        "不属于本部门职权范围的，告知申请人向有关行政机关申请。"
    ),
    "deliver_post": "通过邮政（EMS 等）寄送办理结果，登记快递单号，便于申请人查询。",
    "deliver_window": (
        "通知申请人到窗口领取办理结果，核验领取人身份并登记。"
        "申请人提交申请时当场办结并当场领取的（即办），勾选“当场领取”。"
    ),
    "deliver_online": "将电子办理结果上传至网上办事大厅，通知申请人下载，登记发布日期和通知方式。",
}


def window_acceptance() -> Diagram:
    d = Diagram(
        "window_acceptance",
        "窗口受理（一窗受理）",
        lanes(WIN),
        doc=(
            "各审批事项共用的受理流程：材料审查 → 材料不全时一次性告知补正 → 接收补正材料后重新审查；"
            "受理的出具受理通知书，不予受理的出具不予受理通知书并说明理由。"
            "已告知过仍需补正的，再次告知须经审批办负责人批准（二次告知）。"
            "输出：accepted（布尔）、acceptance_outcome（accepted/refused/withdrawn）、"
            "supplement_rounds、supplement_notices、in_person_supplements、extra_visits。"
        ),
    )
    d.start("start", "收到申请材料", WIN, 0, 1)
    d.script(
        "init_counters", "初始化受理计数", WIN, 1, 1,
        script=(
            "supplement_rounds = 0\n"
            "supplement_notices = 0\n"
            "in_person_supplements = 0\n"
            "extra_visits = 0\n"
            "revision_rounds = 0\n"
            "accepted = False\n"
        ),
    )
    d.xor("gw_check_merge", "", WIN, 2, 1)
    d.user("check_materials", "材料审查", WIN, 3, 1, form="materials_check.json", ui="materials_check.uischema.json",
           doc=DOC["check_materials"])
    d.xor("gw_intake", "审查结果？", WIN, 4, 1)
    # row 0: refusal
    d.user("issue_refusal", "出具不予受理通知书", WIN, 5, 0, form="refusal_notice.json",
           ui="refusal_notice.uischema.json", doc=DOC["issue_refusal"])
    d.script("set_refused", "记录不予受理", WIN, 6, 0,
             script='accepted = False\nacceptance_outcome = "refused"\noutcome = "not_accepted"\n')
    d.end("end_refused", "不予受理", WIN, 7, 0)
    # row 1: acceptance
    d.user("issue_acceptance", "出具受理通知书", WIN, 5, 1, form="acceptance_notice.json",
           ui="acceptance_notice.uischema.json", doc=DOC["issue_acceptance"])
    d.script("set_accepted", "记录受理", WIN, 6, 1, script='accepted = True\nacceptance_outcome = "accepted"\n')
    d.end("end_accepted", "已受理", WIN, 7, 1)
    # rows 2-3: one-time notice of everything missing, then the supplement loop
    d.xor("gw_notified_before", "已告知过？", WIN, 4, 2)
    d.xor("gw_notice_merge", "", WIN, 5, 2)
    d.user("notify_supplement", "一次性告知补正", WIN, 6, 2, form="supplement_notice.json",
           ui="supplement_notice.uischema.json", doc=DOC["notify_supplement"],
           props={"stepKind": "supplement"})
    d.script("count_notice", "统计告知次数", WIN, 7, 2, script="supplement_notices = supplement_notices + 1\n")
    d.user("receive_supplement", "接收补正材料", WIN, 8, 2, form="supplement_receipt.json",
           ui="supplement_receipt.uischema.json", doc=DOC["receive_supplement"],
           props={"stepKind": "supplement"})
    d.xor("gw_supplement", "是否提交补正？", WIN, 9, 2)
    d.script("set_withdrawn", "记录撤回", WIN, 10, 2,
             script='accepted = False\nacceptance_outcome = "withdrawn"\noutcome = "withdrawn"\n')
    d.end("end_withdrawn", "申请撤回", WIN, 11, 2)
    d.script(
        "count_supplement", "统计补正次数", WIN, 9, 3,
        script=(
            "supplement_rounds = supplement_rounds + 1\n"
            'if supplement_channel == "window":\n'
            "    in_person_supplements = in_person_supplements + 1\n"
        ),
    )
    # row 4: a second notice breaks the promise of telling everything at once: only with the lead's approval
    d.user("approve_second_notice", "再次告知补正审批", WIN, 4, 4, form="second_notice_approval.json",
           ui="second_notice_approval.uischema.json", doc=DOC["approve_second_notice"],
           props={"role": "lead"})
    d.xor("gw_second_notice", "是否同意？", WIN, 5, 4)
    d.flow("start", "init_counters")
    d.flow("init_counters", "gw_check_merge")
    d.flow("gw_check_merge", "check_materials")
    d.flow("check_materials", "gw_intake")
    d.flow("gw_intake", "issue_acceptance", "材料齐全", 'intake_result == "complete"')
    d.flow("gw_intake", "gw_notified_before", "需补正", 'intake_result == "incomplete"', style="v")
    d.flow("gw_notified_before", "gw_notice_merge", "首次", "supplement_notices == 0")
    d.flow("gw_notified_before", "approve_second_notice", "再次", "supplement_notices > 0", style="v")
    d.flow("gw_notice_merge", "notify_supplement")
    d.flow("gw_intake", "issue_refusal", "不予受理", 'intake_result == "refuse"')
    d.flow("issue_refusal", "set_refused")
    d.flow("set_refused", "end_refused")
    d.flow("issue_acceptance", "set_accepted")
    d.flow("set_accepted", "end_accepted")
    d.flow("notify_supplement", "count_notice")
    d.flow("count_notice", "receive_supplement")
    d.flow("receive_supplement", "gw_supplement")
    d.flow("gw_supplement", "count_supplement", "已补正", 'supplement_outcome == "submitted"')
    d.flow("gw_supplement", "set_withdrawn", "撤回", 'supplement_outcome == "withdrawn"')
    d.flow("set_withdrawn", "end_withdrawn")
    # the loop back runs between rows 3 and 4, clear of the approval row and of the labels on its way up
    d.flow("count_supplement", "gw_check_merge", style="vhv", drop=0.5)
    d.flow("approve_second_notice", "gw_second_notice")
    d.flow("gw_second_notice", "gw_notice_merge", "同意", 'second_notice_decision == "approve"', style="v")
    d.flow("gw_second_notice", "gw_check_merge", "不同意", 'second_notice_decision == "reject"', style="vhv")
    return d


def result_delivery() -> Diagram:
    d = Diagram(
        "result_delivery",
        "办理结果送达",
        lanes(WIN),
        doc=(
            "各事项共用的送达流程，按申请人选择的 delivery_mode 送达："
            "post 邮寄送达（登记快递单号 tracking_no）、window 现场取件、online 网上下载。输出 delivered = True。"
        ),
    )
    d.start("start", "办理结果待送达", WIN, 0, 1)
    d.xor("gw_mode", "送达方式？", WIN, 1, 1)
    d.user("deliver_post", "邮寄送达", WIN, 2, 0, form="delivery_post.json", ui="delivery_post.uischema.json",
           doc=DOC["deliver_post"])
    d.user("deliver_window", "现场领取", WIN, 2, 1, form="delivery_window.json", ui="delivery_window.uischema.json",
           doc=DOC["deliver_window"])
    d.user("deliver_online", "网上送达", WIN, 2, 2, form="delivery_online.json", ui="delivery_online.uischema.json",
           doc=DOC["deliver_online"])
    d.xor("gw_delivered", "", WIN, 3, 1)
    d.script("set_delivered", "记录送达", WIN, 4, 1, script="delivered = True\n")
    d.end("end", "已送达", WIN, 5, 1)
    d.flow("start", "gw_mode")
    d.flow("gw_mode", "deliver_post", "邮寄送达", 'delivery_mode == "post"')
    d.flow("gw_mode", "deliver_window", "现场取件", 'delivery_mode == "window"')
    d.flow("gw_mode", "deliver_online", "网上下载", 'delivery_mode == "online"')
    d.flow("deliver_post", "gw_delivered")
    d.flow("deliver_window", "gw_delivered")
    d.flow("deliver_online", "gw_delivered")
    d.flow("gw_delivered", "set_delivered")
    d.flow("set_delivered", "end")
    return d


# ---------------------------------------------------------------------------------------------------------------
# building blocks shared by the approval matters (m01-m07)


def intake(d: Diagram) -> None:
    """start -> window acceptance (call activity) -> accepted? (columns 0-2 of the window lane)."""
    d.start("start", "收到申请", WIN, 0)
    d.call("call_acceptance", "窗口受理", WIN, 1, called="window_acceptance")
    d.xor("gw_accepted", "是否受理？", WIN, 2)
    d.end("end_not_accepted", "未受理办结", WIN, 2, 1)
    d.flow("start", "call_acceptance")
    d.flow("call_acceptance", "gw_accepted")
    d.flow("gw_accepted", "end_not_accepted", "不予受理或撤回", default=True)


def public_notice(d: Diagram, unit: str, col: int, prefix: str, title: str, doc: str, kind: str = "public_notice"):
    """publish a notice (user task) -> fix its end moment (script) -> wait for it (timer). Uses columns col..col+2."""
    d.user(f"publish_{prefix}_notice", title, unit, col, form="public_notice.json",
           ui="public_notice.uischema.json", doc=doc, props={"stepKind": kind})
    d.script(f"set_{prefix}_notice_end", "确定公示截止时刻", unit, col + 1, script=notice_end_script(prefix))
    d.timer(f"wait_{prefix}_notice", "公示期满", unit, col + 2, time_date=f"{prefix}_notice_end_at",
            props={"stepKind": kind})
    d.flow(f"publish_{prefix}_notice", f"set_{prefix}_notice_end")
    d.flow(f"set_{prefix}_notice_end", f"wait_{prefix}_notice")


def feedback_and_hearing(d: Diagram, unit: str, col: int) -> None:
    """notice feedback -> hearing requested? -> (hearing) -> merge. Uses columns col..col+3 (rows 0-1)."""
    d.user("notice_feedback", "公示意见处理", unit, col, form="notice_feedback.json",
           ui="notice_feedback.uischema.json",
           doc=("汇总公示期间收到的意见，并登记申请人、利害关系人是否在告知后五日内提出听证申请"
                "（《行政许可法》第四十六、四十七条）。"))
    d.xor("gw_hearing", "是否申请听证？", unit, col + 1)
    d.user("hold_hearing", "组织听证", unit, col + 2, 1, form="hearing_record.json",
           ui="hearing_record.uischema.json", props={"stepKind": "hearing"},
           doc=("在收到听证申请之日起二十日内组织听证，于举行听证七日前通知申请人、利害关系人，"
                "公开举行并制作听证笔录。听证时间不计入审批期限。"))
    d.xor("gw_hearing_merge", "", unit, col + 3)
    d.flow("notice_feedback", "gw_hearing")
    d.flow("gw_hearing", "hold_hearing", "申请听证", 'hearing_requested == "yes"')
    d.flow("gw_hearing", "gw_hearing_merge", "未申请", 'hearing_requested == "no"')
    d.flow("hold_hearing", "gw_hearing_merge")


def expert_loop(d: Diagram, unit: str, col: int, title: str, doc: str) -> None:
    """merge -> expert review -> revise? -> (window receives revised materials, counts) -> back.

    Uses columns col..col+2 of the unit's lane and col+1..col+2 of the window lane (row 0).
    """
    d.xor("gw_expert_merge", "", unit, col)
    d.user("expert_review", title, unit, col + 1, form="expert_review.json", ui="expert_review.uischema.json",
           doc=doc, props={"stepKind": "expert_review"})
    d.xor("gw_expert_result", "评审结论？", unit, col + 2)
    d.user("receive_revision", "接收修改材料", WIN, col + 2, form="revision_receipt.json",
           ui="revision_receipt.uischema.json", props={"stepKind": "applicant_revision"},
           doc=("登记申请人按专家评审意见修改后重新提交的材料。申请人本人到窗口递交的，如实选择“窗口递交”，"
                "计入跑动次数。申请人修改材料的时间不计入审批期限。"))
    d.script("count_revision", "统计修改次数", WIN, col + 1, script=COUNT_REVISION)
    d.flow("gw_expert_merge", "expert_review")
    d.flow("expert_review", "gw_expert_result")
    d.flow("gw_expert_result", "receive_revision", "修改后再审", 'expert_conclusion == "revise"')
    d.flow("receive_revision", "count_revision", style="h")
    d.flow("count_revision", "gw_expert_merge", style="hv")


def decision_and_documents(d: Diagram, unit: str, col: int, *, decision_form="decision.json",
                           approve_title="制发批准文件", refuse_title="制发不予批准决定书",
                           decision_doc: str = "") -> None:
    """leadership decision -> approve/refuse -> documents -> merge. Uses columns col..col+3."""
    d.user("decide", "审批决定", LEAD, col, form=decision_form, ui=decision_form.replace(".json", ".uischema.json"),
           doc=decision_doc or ("分管厅长（厅领导）审签：作出准予或不予的决定。"
                                "不予批准的，必须写明理由，并告知申请人依法申请行政复议或提起行政诉讼的权利。"))
    d.xor("gw_decision", "决定？", LEAD, col + 1)
    d.user("issue_approval", approve_title, unit, col + 2, form="approval_document.json",
           ui="approval_document.uischema.json",
           doc="按审批决定制作并印发批准（许可、确认）文件，登记签发日期；许可证应注明有效期。完成本任务时系统生成决定文书并自动编号。")
    d.user("issue_refusal", refuse_title, unit, col + 2, 1, form="refusal_document.json",
           ui="refusal_document.uischema.json",
           doc="制作不予批准（不予许可、不予确认）决定书，写明理由和依据，并告知复议、诉讼的权利和期限。")
    d.xor("gw_document_merge", "", unit, col + 3)
    d.flow("decide", "gw_decision")
    d.flow("gw_decision", "issue_approval", "准予", 'decision == "approve"')
    d.flow("gw_decision", "issue_refusal", "不予", 'decision == "refuse"', style="hvh")
    d.flow("issue_approval", "gw_document_merge")
    d.flow("issue_refusal", "gw_document_merge")


RECORD_DECISION = 'outcome = "approved" if decision == "approve" else "refused"\n'


def delivery_and_end(d: Diagram, col: int, source: str, *, record=RECORD_DECISION, end_name="办结") -> None:
    d.call("call_delivery", "送达办理结果", WIN, col, called="result_delivery")
    d.script("record_outcome", "记录办结结果", WIN, col + 1, script=record)
    d.end("end_done", end_name, WIN, col + 2)
    d.flow(source, "call_delivery")
    d.flow("call_delivery", "record_outcome")
    d.flow("record_outcome", "end_done")


# ---------------------------------------------------------------------------------------------------------------
# the eleven matters


def m01() -> Diagram:
    u = "环评处"
    d = Diagram(
        "m01_eia_approval",
        "建设项目环境影响评价文件审批",
        lanes(WIN, u, LEAD),
        doc=(
            "《环境影响评价法》第二十二条：报告书自收到之日起六十日内、报告表三十日内作出审批决定并书面通知。"
            "流程：受理 → 受理公示（不少于10个工作日）→ 技术评估/专家评审 → 审查 → "
            "拟审批公示（5个工作日，告知听证权利） → 决定 → 公告（7个工作日内）→ 送达。"
            "启动数据：report_type（report 报告书 / table 报告表）。"
        ),
    )
    intake(d)
    public_notice(
        d, u, 3, "acceptance_public", "受理公示",
        "在本部门网站公开受理情况（项目名称、建设地点、建设单位、环评机构、环评文件全文或链接、公众意见反馈途径），"
        "公示期不少于10个工作日。请填写公示网址、开始日期和截止日期（截止日期由经办人按工作日推算）。",
    )
    d.flow("gw_accepted", "publish_acceptance_public_notice", "已受理", "accepted == True", style="hv")
    expert_loop(
        d, u, 6, "技术评估/专家评审",
        "委托技术评估机构开展技术评估或组织专家评审，登记评审意见和结论。"
        "需要建设单位修改环评文件的，选择“修改后再审”；专家评审时间不计入审批期限（《行政许可法》第四十五条）。",
    )
    d.flow("wait_acceptance_public_notice", "gw_expert_merge")
    d.user("review", "审查", u, 9, form="review_opinion.json", ui="review_opinion.uischema.json",
           doc="结合技术评估意见和公众意见对环评文件进行审查，提出拟审批意见（建议批准或不予批准，不予批准须写明理由）。")
    d.flow("gw_expert_result", "review", "评审完成", 'expert_conclusion in ("pass", "fail")')
    public_notice(
        d, u, 10, "pre_approval", "拟审批公示",
        "在本部门网站公开拟作出的审批意见，公示期5个工作日，同时告知建设单位和利害关系人享有听证权利。"
        "请填写公示网址、开始日期和截止日期。",
    )
    d.flow("review", "publish_pre_approval_notice")
    feedback_and_hearing(d, u, 13)
    d.flow("wait_pre_approval_notice", "notice_feedback")
    decision_and_documents(d, u, 17, approve_title="制发环评批复", refuse_title="制发不予批准决定书")
    d.flow("gw_hearing_merge", "decide", style="hv")
    d.user("announce", "公告审批决定", u, 21, form="announcement.json", ui="announcement.uischema.json",
           doc="自作出审批决定之日起7个工作日内，在本部门网站公告审批决定（批准或不予批准）。")
    d.flow("gw_document_merge", "announce")
    delivery_and_end(d, 22, "announce")
    return d


def m02() -> Diagram:
    u = "土壤处"
    d = Diagram(
        "m02_hazardous_waste_permit",
        "危险废物经营许可",
        lanes(WIN, u, LEAD),
        doc=(
            "《危险废物经营许可证管理办法》第五至九条：自受理之日起20个工作日内审查完毕，期间组织现场核查（可组织专家评估）；"
            "符合条件的颁发许可证并予以公告，不符合的书面通知并说明理由。"
            "流程：受理 → 材料审查 → 现场核查 → 专家评审 → 审查 → 公示 → 决定 → 发证并公告 → 送达。"
        ),
    )
    intake(d)
    d.user("material_review", "材料审查", u, 3, form="material_review.json", ui="material_review.uischema.json",
           doc="对经营设施、技术人员、管理制度、事故应急预案等申请材料进行实质审查，记录发现的问题。")
    d.flow("gw_accepted", "material_review", "已受理", "accepted == True", style="hv")
    d.user("site_inspection", "现场核查", u, 4, form="site_inspection.json", ui="site_inspection.uischema.json",
           doc="组织对申请单位的经营设施、贮存设施和污染防治设施进行现场核查，记录核查情况和结论。")
    d.flow("material_review", "site_inspection")
    expert_loop(
        d, u, 5, "专家评审",
        "组织专家对申请单位的技术能力和设施进行评估，登记评审意见和结论。"
        "需要申请单位补充完善材料的，选择“修改后再审”；专家评审时间不计入审批期限。",
    )
    d.flow("site_inspection", "gw_expert_merge")
    d.user("review", "审查", u, 8, form="review_opinion.json", ui="review_opinion.uischema.json",
           doc="综合材料审查、现场核查和专家评审意见，提出拟办意见（建议准予或不予，不予须写明理由）。")
    d.flow("gw_expert_result", "review", "评审完成", 'expert_conclusion in ("pass", "fail")')
    public_notice(d, u, 9, "permit", "公示",
                  "在本部门网站公示拟许可情况，并告知申请人、利害关系人享有听证权利。填写公示网址和起止日期。")
    d.flow("review", "publish_permit_notice")
    feedback_and_hearing(d, u, 12)
    d.flow("wait_permit_notice", "notice_feedback")
    decision_and_documents(d, u, 16, approve_title="发放经营许可证", refuse_title="制发不予许可决定书")
    d.flow("gw_hearing_merge", "decide", style="hv")
    d.user("announce", "公告", u, 20, form="announcement.json", ui="announcement.uischema.json",
           doc="在本部门网站公告许可决定（行政许可“双公示”）。")
    d.flow("gw_document_merge", "announce")
    delivery_and_end(d, 21, "announce")
    return d


def m03() -> Diagram:
    u = "土壤处"
    d = Diagram(
        "m03_hazardous_waste_storage",
        "贮存危险废物超过一年的批准",
        lanes(WIN, u, LEAD),
        doc=(
            "《固体废物污染环境防治法》（2016 年第五十八条，2020 年第八十一条）："
            "贮存危险废物确需延长期限的，须报经批准。"
            "无专门时限，适用《行政许可法》第四十二条：20个工作日（经批准可延长10个工作日）。"
            "流程：受理 → 审查 → （现场核查）→ 决定 → 送达。"
        ),
    )
    intake(d)
    d.user("storage_review", "审查", u, 3, form="storage_review.json", ui="storage_review.uischema.json",
           doc="审查延长贮存的理由、危险废物类别和数量、贮存设施和条件、利用处置计划及相关许可证，决定是否现场核查。")
    d.flow("gw_accepted", "storage_review", "已受理", "accepted == True", style="hv")
    d.xor("gw_site", "需现场核查？", u, 4)
    d.user("site_inspection", "现场核查", u, 5, 1, form="site_inspection.json", ui="site_inspection.uischema.json",
           doc="现场核查贮存设施、贮存条件和危险废物的类别、数量，记录核查情况和结论。")
    d.xor("gw_site_merge", "", u, 6)
    d.flow("storage_review", "gw_site")
    d.flow("gw_site", "site_inspection", "需要", 'site_check_needed == "yes"')
    d.flow("gw_site", "gw_site_merge", "不需要", 'site_check_needed == "no"')
    d.flow("site_inspection", "gw_site_merge")
    decision_and_documents(d, u, 7, approve_title="制发批准文件", refuse_title="制发不予批准决定书")
    d.flow("gw_site_merge", "decide", style="hv")
    delivery_and_end(d, 11, "gw_document_merge")
    return d


def m04() -> Diagram:
    u = "核安全局"
    d = Diagram(
        "m04_radiation_safety_permit",
        "辐射安全许可",
        lanes(WIN, u, LEAD),
        doc=(
            "《放射性污染防治法》第二十八条；《放射性同位素与射线装置安全和防护条例》（国务院令第449号）；"
            "《放射性同位素与射线装置安全许可管理办法》：自受理之日起20个工作日内完成审查（公示时间不计入）。"
            "流程：受理 → 审查 → 现场勘查 → 公示 → 决定 → 发证 → 送达。"
        ),
    )
    intake(d)
    d.user("material_review", "材料审查", u, 3, form="material_review.json", ui="material_review.uischema.json",
           doc="审查辐射安全与防护设施、人员资质、管理制度和事故应急措施等申请材料，记录发现的问题。")
    d.flow("gw_accepted", "material_review", "已受理", "accepted == True", style="hv")
    d.user("site_survey", "现场勘查", u, 4, form="site_inspection.json", ui="site_inspection.uischema.json",
           doc="对场所、屏蔽防护、安全联锁和监测设备进行现场勘查，记录勘查情况和结论。")
    d.flow("material_review", "site_survey")
    d.user("review", "审查", u, 5, form="review_opinion.json", ui="review_opinion.uischema.json",
           doc="综合材料审查和现场勘查情况，提出拟办意见（建议准予或不予，不予须写明理由）。")
    d.flow("site_survey", "review")
    public_notice(d, u, 6, "permit", "公示",
                  "在本部门网站公示拟许可情况，并告知申请人、利害关系人享有听证权利。公示时间不计入审批期限。")
    d.flow("review", "publish_permit_notice")
    feedback_and_hearing(d, u, 9)
    d.flow("wait_permit_notice", "notice_feedback")
    decision_and_documents(d, u, 13, approve_title="发放辐射安全许可证", refuse_title="制发不予许可决定书")
    d.flow("gw_hearing_merge", "decide", style="hv")
    delivery_and_end(d, 17, "gw_document_merge")
    return d


RECORD_RESERVE = (
    'outcome = "approved" if decision == "approve" else "refused"\n'
    'if decision == "approve":\n'
    '    entry_end_at = entry_end + "T23:59:59+08:00"\n'
)


def reserve(pid: str, name: str, review_form: str, doc: str, review_doc: str) -> Diagram:
    u = "生态处"
    d = Diagram(pid, name, lanes(WIN, u, LEAD), doc=doc)
    intake(d)
    d.user("reserve_review", "审查", u, 3, form=review_form, ui=review_form.replace(".json", ".uischema.json"),
           doc=review_doc)
    d.flow("gw_accepted", "reserve_review", "已受理", "accepted == True", style="hv")
    decision_and_documents(
        d, u, 4, decision_form="reserve_decision.json", approve_title="制发批准文件", refuse_title="制发不予批准决定书",
        decision_doc=("厅领导审签。批准的，决定中写明准予进入的人员和起止日期；"
                      "不予批准的，必须写明理由，并告知申请复议、提起诉讼的权利。"),
    )
    d.flow("reserve_review", "decide", style="hv")
    d.call("call_delivery", "送达办理结果", WIN, 8, called="result_delivery")
    d.script("record_outcome", "记录办结结果", WIN, 9, script=RECORD_RESERVE)
    d.xor("gw_entry", "已批准？", WIN, 10)
    d.timer("wait_entry_end", "活动结束", WIN, 11, time_date="entry_end_at")
    d.user("receive_results", "接收活动成果副本", WIN, 12, form="results_filing.json",
           ui="results_filing.uischema.json",
           doc="活动结束后，登记申请人提交的活动成果副本（科研成果、考察报告等）并转生态处存档。")
    d.xor("gw_results_merge", "", WIN, 13)
    d.end("end_done", "办结", WIN, 14)
    d.flow("gw_document_merge", "call_delivery", style="hv")
    d.flow("call_delivery", "record_outcome")
    d.flow("record_outcome", "gw_entry")
    d.flow("gw_entry", "wait_entry_end", "已批准", 'decision == "approve"')
    d.flow("gw_entry", "gw_results_merge", "不予批准", 'decision == "refuse"', style="vhv", drop=1)
    d.flow("wait_entry_end", "receive_results")
    d.flow("receive_results", "gw_results_merge")
    d.flow("gw_results_merge", "end_done")
    return d


def m05() -> Diagram:
    return reserve(
        "m05_nature_reserve_core_entry",
        "进入环保部门管理的国家级自然保护区核心区审批",
        "reserve_review.json",
        "《自然保护区条例》第二十七条：因科学研究需要进入核心区从事观测、调查活动的，提交申请和活动计划，"
        "经自然保护区管理机构批准；进入国家级自然保护区核心区的，须经省级以上环境保护主管部门批准。"
        "无专门时限，适用《行政许可法》第四十二条（20个工作日）。活动结束后提交活动成果副本。",
        "审查申请书、活动计划（目的、路线、时间、人员）和自然保护区管理机构的意见，提出拟办意见。",
    )


def m06() -> Diagram:
    return reserve(
        "m06_nature_reserve_foreign_entry",
        "外国人进入环保部门管理的国家级自然保护区审批",
        "reserve_foreign_review.json",
        "《自然保护区条例》第三十一条：外国人进入国家级自然保护区，接待单位应当事先报经省级环境保护主管部门批准。"
        "无专门时限，适用《行政许可法》第四十二条（20个工作日）。活动结束后提交活动成果副本。",
        "审查活动计划、外国人身份证件（护照）、国内接待单位和自然保护区管理机构的意见，提出拟办意见。",
    )


def m07() -> Diagram:
    u = "核安全局"
    d = Diagram(
        "m07_radiation_project_confirmation",
        "辐射项目行政确认",
        lanes(WIN, u, LEAD),
        doc=("事项范围和法定时限未确认，按承诺时限（默认20个工作日）办理。流程：受理 → 审查 → 确认 → 送达。"),
    )
    intake(d)
    d.user("review", "审查", u, 3, form="review_opinion.json", ui="review_opinion.uischema.json",
           doc="审查申请确认的事项和证明材料，提出拟办意见（建议予以确认或不予确认，不予确认须写明理由）。")
    d.flow("gw_accepted", "review", "已受理", "accepted == True", style="hv")
    decision_and_documents(d, u, 4, approve_title="出具确认文件", refuse_title="制发不予确认决定书",
                           decision_doc="厅领导审签：予以确认或不予确认；不予确认的必须写明理由。")
    d.flow("review", "decide", style="hv")
    delivery_and_end(d, 8, "gw_document_merge")
    return d


RECORD_FILING = 'outcome = "filed" if check_result == "accept" else "returned"\n'


def filing_check_block(d: Diagram, unit: str, col: int, form: str, title: str, doc: str) -> None:
    """check -> accept? -> receipt / return notice -> merge. Uses columns col..col+3 (rows 0-1)."""
    d.user("check_filing", title, unit, col, form=form, ui=form.replace(".json", ".uischema.json"), doc=doc)
    d.xor("gw_check", "核对结果？", unit, col + 1)
    add_receipt_and_return(d, unit, col + 2)
    d.flow("check_filing", "gw_check")
    d.flow("gw_check", "issue_receipt", "予以备案", 'check_result == "accept"')
    d.flow("gw_check", "issue_return", "退回", 'check_result == "return"')


def add_receipt_and_return(d: Diagram, unit: str, col: int) -> None:
    d.user("issue_receipt", "出具备案回执", unit, col, form="filing_receipt.json", ui="filing_receipt.uischema.json",
           doc="出具备案回执，登记备案编号和日期。")
    d.user("issue_return", "出具退回通知", unit, col, 1, form="return_notice.json", ui="return_notice.uischema.json",
           doc="出具退回通知，写明退回理由和需要改正的内容；申请人改正后可重新备案。")
    d.xor("gw_document_merge", "", unit, col + 1)
    d.flow("issue_receipt", "gw_document_merge")
    d.flow("issue_return", "gw_document_merge")


COMPUTE_LEAD_TIME = """\
day_numbers = []
for iso_date in [received_date, activity_start, activity_end]:
    y = int(iso_date[0:4])
    m = int(iso_date[5:7])
    d = int(iso_date[8:10])
    if m <= 2:
        y = y - 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    day_numbers.append(era * 146097 + doe)
lead_days = day_numbers[1] - day_numbers[0]
lead_time_ok = lead_days >= 10
activity_dates_valid = day_numbers[2] >= day_numbers[1]
activity_end_at = activity_end + "T23:59:59+08:00"
del day_numbers, iso_date, y, m, d, era, yoe, doy, doe
"""
FILING_ACCEPTED = """\
filing_accepted = (
    check_result == "accept"
    and lead_time_ok
    and activity_dates_valid
    and (site_check_needed != "yes" or inspection_result == "compliant")
)
"""


def m08() -> Diagram:
    u = "核安全局"
    d = Diagram(
        "m08_radioactive_source_offsite_filing",
        "放射源异地使用备案",
        lanes(WIN, u),
        doc=(
            "《放射性同位素与射线装置安全和防护条例》第二十五条；《放射性同位素与射线装置安全许可管理办法》第三十五条："
            "异地使用放射源的，应于活动实施前10日向使用地省级环境保护主管部门备案；活动结束后20日内办理注销。"
            "流程：接收备案 → 计算提前天数 → 审核（可现场核查）→ 备案回执或退回 → 送达 → 等待活动结束 → "
            "接收注销申请（活动结束20日仍未注销的督促注销）→ 办理注销。"
        ),
    )
    d.start("start", "收到备案材料", WIN, 0)
    d.user("receive_filing", "接收备案材料", WIN, 1, form="offsite_filing_intake.json",
           ui="offsite_filing_intake.uischema.json",
           doc="登记备案材料：辐射安全许可证、放射源情况、使用地点和活动起止日期。系统据此计算是否提前10日以上备案。")
    d.script("compute_lead_time", "计算提前天数", WIN, 2, script=COMPUTE_LEAD_TIME)
    d.user("check_filing", "审核备案", u, 3, form="offsite_filing_check.json", ui="offsite_filing_check.uischema.json",
           doc=("核对备案材料。系统已计算提前天数（lead_days）：不足10日（lead_time_ok 为否）或活动日期有误的，"
                "应选择退回并写明理由；需要了解现场情况的，选择现场核查。"))
    d.xor("gw_site", "现场核查？", u, 4)
    d.user("site_inspection", "现场核查", u, 5, 1, form="site_inspection.json", ui="site_inspection.uischema.json",
           doc="对放射源使用场所、安全防护措施和贮存条件进行现场核查，记录核查结论。")
    d.xor("gw_site_merge", "", u, 6)
    d.script("evaluate_filing", "汇总审核结果", u, 7, script=FILING_ACCEPTED)
    d.xor("gw_check", "予以备案？", u, 8)
    add_receipt_and_return(d, u, 9)
    d.call("call_delivery", "送达办理结果", WIN, 11, called="result_delivery")
    d.script("record_outcome", "记录办结结果", WIN, 12,
             script='outcome = "filed" if filing_accepted else "returned"\n')
    d.xor("gw_filed", "已备案？", WIN, 13)
    d.end("end_returned", "已退回", WIN, 13, 1)
    d.timer("wait_activity_end", "活动结束", WIN, 14, time_date="activity_end_at")
    d.user("receive_cancellation", "接收注销申请", WIN, 15, form="cancellation_intake.json",
           ui="cancellation_intake.uischema.json",
           doc="活动结束后，登记申请人提交的注销申请（应于活动结束后20日内）。")
    d.boundary_timer("cancellation_overdue", "20日未注销", "receive_cancellation", duration='"P20D"',
                     interrupting=False)
    d.user("remind_cancellation", "督促注销", u, 16, 1, form="cancellation_reminder.json",
           ui="cancellation_reminder.uischema.json",
           doc="活动结束已满20日仍未收到注销申请：督促申请人办理注销，登记督促方式。注销申请仍由窗口接收。")
    d.end("end_reminded", "已督促注销", u, 17, 1)
    # m08 calls no window_acceptance: this is its only visit counter (a trip after delivery still counts)
    d.script("count_cancellation_visit", "统计注销跑动", WIN, 16,
             script='extra_visits = 1 if cancellation_channel == "window" else 0\n')
    d.user("cancel_filing", "办理注销", u, 16, form="cancellation_check.json", ui="cancellation_check.uischema.json",
           doc="核对注销申请，办理异地使用备案注销。")
    d.script("set_cancelled", "记录注销", u, 17, script="cancelled = True\n")
    d.end("end_cancelled", "已注销", u, 18)
    d.flow("start", "receive_filing")
    d.flow("receive_filing", "compute_lead_time")
    d.flow("compute_lead_time", "check_filing", style="hv")
    d.flow("check_filing", "gw_site")
    d.flow("gw_site", "site_inspection", "需要", 'check_result == "accept" and site_check_needed == "yes"')
    d.flow("gw_site", "gw_site_merge", "不需要", default=True)
    d.flow("site_inspection", "gw_site_merge")
    d.flow("gw_site_merge", "evaluate_filing")
    d.flow("evaluate_filing", "gw_check")
    d.flow("gw_check", "issue_receipt", "予以备案", "filing_accepted == True")
    d.flow("gw_check", "issue_return", "退回", default=True)
    d.flow("gw_document_merge", "call_delivery", style="hv")
    d.flow("call_delivery", "record_outcome")
    d.flow("record_outcome", "gw_filed")
    d.flow("gw_filed", "wait_activity_end", "已备案", 'outcome == "filed"')
    d.flow("gw_filed", "end_returned", "已退回", 'outcome == "returned"')
    d.flow("wait_activity_end", "receive_cancellation")
    d.flow("receive_cancellation", "count_cancellation_visit")
    d.flow("count_cancellation_visit", "cancel_filing")
    d.flow("cancel_filing", "set_cancelled")
    d.flow("set_cancelled", "end_cancelled")
    d.flow("cancellation_overdue", "remind_cancellation")
    d.flow("remind_cancellation", "end_reminded")
    return d


CHECK_DUE = """\
due_date = str(report_year + 1) + "-01-31"
late = received_date > due_date
"""


def m09() -> Diagram:
    u = "辐射站"
    d = Diagram(
        "m09_radiation_annual_assessment_filing",
        "放射性同位素与射线装置安全和防护状况年度评估报告备案",
        lanes(WIN, u),
        doc=(
            "《放射性同位素与射线装置安全许可管理办法》第四十二条：持证单位应于每年1月31日前提交上一年度的评估报告。"
            "流程：接收报告 → 判断是否逾期（report_year 次年1月31日之后收到为逾期，late = True）"
            "→ 核对 → 备案回执或退回 → 送达。"
        ),
    )
    d.start("start", "收到年度评估报告", WIN, 0)
    d.user("receive_report", "接收年度评估报告", WIN, 1, form="annual_report_intake.json",
           ui="annual_report_intake.uischema.json",
           doc="登记报告年度和收件日期；报告年度次年1月31日之后收到的为逾期提交。")
    d.script("check_due_date", "判断是否逾期", WIN, 2, script=CHECK_DUE)
    d.xor("gw_late", "是否逾期？", WIN, 3)
    d.user("record_late", "逾期提交处理", u, 4, 1, form="late_filing_record.json",
           ui="late_filing_record.uischema.json",
           doc="报告在次年1月31日之后提交：记录逾期情况，提醒并责令限期改正，或移交监察总队依法处理。")
    d.xor("gw_late_merge", "", u, 5)
    filing_check_block(d, u, 6, "filing_check.json", "核对备案材料",
                       "核对年度评估报告的内容是否完整（辐射安全和防护设施运行、人员培训、个人剂量监测、事故应急等）。")
    d.flow("start", "receive_report")
    d.flow("receive_report", "check_due_date")
    d.flow("check_due_date", "gw_late")
    d.flow("gw_late", "record_late", "逾期", "late == True")
    d.flow("gw_late", "gw_late_merge", "按时", default=True, style="hv")
    d.flow("record_late", "gw_late_merge")
    d.flow("gw_late_merge", "check_filing")
    delivery_and_end(d, 10, "gw_document_merge", record=RECORD_FILING)
    return d


def m10() -> Diagram:
    u = "固废中心"
    d = Diagram(
        "m10_imported_solid_waste_report",
        "进口固体废物利用企业报告进口固体废物经营情况和环境监测情况",
        lanes(WIN, u),
        doc=(
            "《固体废物进口管理办法》（环境保护部等令第12号）：进口固体废物利用企业按季度和年度报告经营情况和环境监测情况。"
            "流程：接收报告 → 核对 → 备案回执或退回 → 送达 → 必要时现场抽查。"
        ),
    )
    d.start("start", "收到报告", WIN, 0)
    d.user("receive_report", "接收经营和监测情况报告", WIN, 1, form="import_waste_report_intake.json",
           ui="import_waste_report_intake.uischema.json", doc="登记季度或年度报告的报告期、进口量和监测情况。")
    d.flow("start", "receive_report")
    filing_check_block(d, u, 2, "import_waste_check.json", "核对报告",
                       "核对报告内容是否完整、数据是否合理，决定是否安排现场抽查。")
    d.flow("receive_report", "check_filing", style="hv")
    d.call("call_delivery", "送达办理结果", WIN, 6, called="result_delivery")
    d.script("record_outcome", "记录办结结果", WIN, 7, script=RECORD_FILING)
    d.xor("gw_spot", "现场抽查？", u, 8)
    d.user("spot_check", "现场抽查", u, 9, form="site_inspection.json", ui="site_inspection.uischema.json",
           doc="对企业的进口固体废物利用、贮存和污染防治情况进行现场抽查，记录抽查结论。")
    d.xor("gw_spot_merge", "", u, 10)
    d.end("end_done", "办结", u, 11)
    d.flow("gw_document_merge", "call_delivery", style="hv")
    d.flow("call_delivery", "record_outcome")
    d.flow("record_outcome", "gw_spot", style="hv")
    d.flow("gw_spot", "spot_check", "抽查", 'check_result == "accept" and spot_check_needed == "yes"')
    d.flow("gw_spot", "gw_spot_merge", "不抽查", default=True, style="vhv", drop=1)
    d.flow("spot_check", "gw_spot_merge")
    d.flow("gw_spot_merge", "end_done")
    return d


def m11() -> Diagram:
    u = "法规处"
    d = Diagram(
        "m11_eia_post_assessment_filing",
        "对建设项目环境影响后评价报告的备案",
        lanes(WIN, u),
        doc=(
            "《环境影响评价法》第二十七条；《建设项目环境影响后评价管理办法（试行）》（环境保护部令第37号）第六条。"
            "改革方案未明确责任单位：本图的法规处泳道由承办单位办理——管理员在系统设置中指定的承办单位，"
            "未指定时为 catalog.toml 的 owner（默认法规处，改革办）。"
            "流程：接收报告 → 核对 → 备案回执或退回 → 送达。"
        ),
    )
    d.start("start", "收到后评价报告", WIN, 0)
    d.user("receive_report", "接收后评价报告", WIN, 1, form="post_assessment_intake.json",
           ui="post_assessment_intake.uischema.json", doc="登记建设项目名称、原环评批复文号和后评价编制单位。")
    d.flow("start", "receive_report")
    filing_check_block(d, u, 2, "filing_check.json", "核对备案材料",
                       "核对后评价报告是否包含法定内容（建设和运行情况、环境影响监测、措施有效性、补救方案等）。")
    d.flow("receive_report", "check_filing", style="hv")
    delivery_and_end(d, 6, "gw_document_merge", record=RECORD_FILING)
    return d


DIAGRAMS = {
    "shared/window_acceptance": window_acceptance,
    "shared/result_delivery": result_delivery,
    "m01_eia_approval": m01,
    "m02_hazardous_waste_permit": m02,
    "m03_hazardous_waste_storage": m03,
    "m04_radiation_safety_permit": m04,
    "m05_nature_reserve_core_entry": m05,
    "m06_nature_reserve_foreign_entry": m06,
    "m07_radiation_project_confirmation": m07,
    "m08_radioactive_source_offsite_filing": m08,
    "m09_radiation_annual_assessment_filing": m09,
    "m10_imported_solid_waste_report": m10,
    "m11_eia_post_assessment_filing": m11,
}


def main(argv: list[str]) -> int:
    wanted = argv or [""]
    problems = []
    for stem, build in DIAGRAMS.items():
        if not any(stem.startswith(w) or stem.split("/")[-1].startswith(w) for w in wanted):
            continue
        d = build()
        d.layout()
        problems += d.check_layout()
        path = WORKFLOWS / f"{stem}.bpmn"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.to_xml())
        print(f"wrote {path.relative_to(WORKFLOWS.parent)}")
    for p in problems:
        print("layout:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
