"""Definitions that drew the first version of the department's own process diagrams (workflows/p*.bpmn, listed in
``workflows/processes.toml``), with the same generator and conventions as the matters (``diagrams.py``).

Redraw (overwrites hand edits made in a modeler; check ``git diff`` afterwards):

    .venv/bin/python -m workflows.tools.processes            # all of them
    .venv/bin/python -m workflows.tools.processes p01        # only some (prefix match on the file stem)
"""

from __future__ import annotations

import sys

from workflows.tools.bpmngen import Diagram
from workflows.tools.diagrams import WIN, WORKFLOWS, lanes

REFORM = "法规处"  # the reform office (改革办): 好差评 and complaints are its business in the plan

RECORD_RECTIFICATION = 'outcome = "rectified" if verification_result == "rectify" else "explained"\n'


def p01() -> Diagram:
    d = Diagram(
        "p01_rectification",
        "差评整改",
        lanes(REFORM, WIN),
        doc=(
            "政务服务“好差评”：申请人给出“不满意”或“非常不满意”的评价后自动启动。"
            "流程：核实 → 整改（属实）或说明（不属实）→ 回访 → 办结；15个工作日内办结（processes.toml），"
            "结果告知申请人。"
            "启动数据：rating（level 等级、comment 意见、indicators 指标）、rated_case（reference、matter_code）。"
        ),
    )
    d.start("start", "收到差评", REFORM, 0)
    d.user("verify_rating", "核实差评", REFORM, 1, form="rating_verification.json",
           ui="rating_verification.uischema.json",
           doc="查阅被评价办件的记录，询问经办人员，核实申请人反映的问题是否属实：属实的转窗口整改，不属实或不可归责的作出说明。")
    d.xor("gw_verified", "核实结论？", REFORM, 2)
    d.user("rectify", "整改", WIN, 3, form="rectification.json", ui="rectification.uischema.json",
           doc="针对核实属实的问题落实整改措施（会同承办处室），写明措施和完成日期；整改结果将告知申请人。")
    d.user("explain", "说明情况", WIN, 3, 1, form="rating_explanation.json", ui="rating_explanation.uischema.json",
           doc="向申请人说明核实的情况和依据，语言平实、有理有据；说明将告知申请人。")
    d.xor("gw_merge", "", WIN, 4)
    d.user("return_call", "回访", REFORM, 5, form="return_call.json", ui="return_call.uischema.json",
           doc="电话回访申请人，告知整改或说明的结果并听取意见，如实记录申请人的意见。")
    d.script("record_outcome", "记录整改结果", REFORM, 6, script=RECORD_RECTIFICATION)
    d.end("end_done", "办结", REFORM, 7)
    d.flow("start", "verify_rating")
    d.flow("verify_rating", "gw_verified")
    d.flow("gw_verified", "rectify", "属实", 'verification_result == "rectify"')
    d.flow("gw_verified", "explain", "说明", 'verification_result == "explain"')
    d.flow("rectify", "gw_merge")
    d.flow("explain", "gw_merge")
    d.flow("gw_merge", "return_call")
    d.flow("return_call", "record_outcome")
    d.flow("record_outcome", "end_done")
    return d


# Units a complaint may be handed to for investigation (分办): one lane and one 调查 task each, chosen by the
# gateway on assigned_unit (the lane decides who works the task; BPMN has no lane chosen at run time).
COMPLAINT_UNITS = (
    ("approval_office", "审批办"),
    ("eia", "环评处"),
    ("soil", "土壤处"),
    ("nuclear_safety", "核安全局"),
    ("ecology", "生态处"),
    ("radiation_station", "辐射站"),
    ("solid_waste_centre", "固废中心"),
    ("inspection_corps", "监察总队"),
)
RECORD_COMPLAINT = "outcome = reply_result\n"


def p02() -> Diagram:
    d = Diagram(
        "p02_complaint",
        "投诉举报办理",
        [("regulations", REFORM), *COMPLAINT_UNITS],
        doc=(
            "改革方案任务十：畅通投诉举报渠道。公众在网上提交投诉举报（可匿名，可附材料）后自动启动。"
            "流程：登记 → 分办到责任单位 → 调查 → 答复；时限见 processes.toml（15个工作日），"
            "经厅领导批准可延长（案件页“延长时限”）。投诉人凭编号和查询码查看办理进度和答复。"
            "启动数据：complaint（kind 投诉/举报、subject、content、matter_code、case_reference、anonymous、"
            "attachments）。"
        ),
    )
    d.start("start", "收到投诉举报", REFORM, 0)
    d.user("register_complaint", "登记", REFORM, 1, form="complaint_registration.json",
           ui="complaint_registration.uischema.json",
           doc="登记投诉举报的主要内容，判断是否属于本厅职责范围：属于的予以受理并分办，不属于的不予受理并在答复中告知理由和受理机关。")
    d.xor("gw_accepted", "是否受理？", REFORM, 2)
    d.user("assign_complaint", "分办", REFORM, 3, form="complaint_assignment.json",
           ui="complaint_assignment.uischema.json",
           doc="将投诉举报分办到负责调查的单位，写明调查要求。")
    d.xor("gw_unit", "分办单位？", REFORM, 4)
    for code, name in COMPLAINT_UNITS:
        d.user(f"investigate_{code}", "调查", name, 5, form="complaint_investigation.json",
               ui="complaint_investigation.uischema.json",
               doc="调查核实投诉举报反映的问题，写明调查经过、查明的事实和处理意见；涉及违法行为的依法处理。")
    d.xor("gw_investigated", "", REFORM, 6)
    d.user("reply_complaint", "答复", REFORM, 7, form="complaint_reply.json", ui="complaint_reply.uischema.json",
           doc="根据调查结果书面答复投诉举报人（匿名的在网上公开答复，凭编号和查询码查看）；不予受理的写明理由。")
    d.script("record_outcome", "记录办理结果", REFORM, 8, script=RECORD_COMPLAINT)
    d.end("end_done", "办结", REFORM, 9)
    d.flow("start", "register_complaint")
    d.flow("register_complaint", "gw_accepted")
    d.flow("gw_accepted", "assign_complaint", "受理", 'registration_result == "accept"')
    d.flow("gw_accepted", "gw_investigated", "不予受理", 'registration_result == "not_accept"', style="vhv", drop=-1)
    d.flow("assign_complaint", "gw_unit")
    for code, name in COMPLAINT_UNITS:
        d.flow("gw_unit", f"investigate_{code}", name, f'assigned_unit == "{code}"')
        d.flow(f"investigate_{code}", "gw_investigated")
    d.flow("gw_investigated", "reply_complaint")
    d.flow("reply_complaint", "record_outcome")
    d.flow("record_outcome", "end_done")
    return d


CORPS = "监察总队"
RECORD_INSPECTION = "outcome = inspection_result\n"


def p03() -> Diagram:
    d = Diagram(
        "p03_inspection",
        "双随机抽查检查",
        [("inspection_corps", CORPS)],
        doc=(
            "改革方案任务十二：“双随机一公开”。抽查计划按公布的随机种子抽取检查对象和两名执法检查人员后自动启动，"
            "每个被抽中的对象一件。流程：现场检查（第一名检查人员记录）→ 复核（第二名检查人员）→ 审定并公开结果"
            "（监察总队负责人）。发现违法问题的，结果计入信用记录。"
            "启动数据：inspection（plan、entity_name、credit_code、inspectors：两名检查人员）。"
        ),
    )
    d.start("start", "抽中检查对象", CORPS, 0)
    d.xor("gw_again", "", CORPS, 1)
    d.user("record_inspection", "现场检查", CORPS, 2, form="inspection_record.json",
           ui="inspection_record.uischema.json",
           doc="两名执法检查人员共同到场检查（出示执法证件），如实填写检查记录和初步结论；发现问题的写明事实和依据。")
    d.user("review_inspection", "复核检查记录", CORPS, 3, form="inspection_review.json",
           ui="inspection_review.uischema.json", props={"differentFrom": "record_inspection"},
           doc="第二名检查人员复核检查记录（不得由填写检查记录的人员复核）：同意的确认，不同意的写明意见后退回重新检查。")
    d.xor("gw_review", "复核意见？", CORPS, 4)
    d.user("approve_result", "审定并公开结果", CORPS, 5, form="inspection_result.json",
           ui="inspection_result.uischema.json", props={"role": "lead"},
           doc="监察总队负责人审定检查结果，写明向社会公开的结果摘要（不含个人信息和商业秘密）。")
    d.script("record_outcome", "记录检查结果", CORPS, 6, script=RECORD_INSPECTION)
    d.end("end_done", "办结", CORPS, 7)
    d.flow("start", "gw_again")
    d.flow("gw_again", "record_inspection")
    d.flow("record_inspection", "review_inspection")
    d.flow("review_inspection", "gw_review")
    d.flow("gw_review", "approve_result", "同意", 'review_decision == "confirm"')
    d.flow("gw_review", "gw_again", "退回", 'review_decision == "return"', style="vhv", drop=1)
    d.flow("approve_result", "record_outcome")
    d.flow("record_outcome", "end_done")
    return d


DIAGRAMS = {
    "p01_rectification": p01,
    "p02_complaint": p02,
    "p03_inspection": p03,
}


def main(argv: list[str]) -> int:
    wanted = argv or [""]
    problems = []
    for stem, build in DIAGRAMS.items():
        if not any(stem.startswith(w) for w in wanted):
            continue
        d = build()
        d.layout()
        problems += d.check_layout()
        path = WORKFLOWS / f"{stem}.bpmn"
        path.write_bytes(d.to_xml())
        print(f"wrote {path.relative_to(WORKFLOWS.parent)}")
    for p in problems:
        print("layout:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
