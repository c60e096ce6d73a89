"""The kinds of official document the department issues, and what each one is.

Titles are English message ids (the translation layer turns them into the Chinese titles printed on the
document). A decision's title depends on the matter's wording (许可 / 批准 / 批复 / 确认), see `decision_title`.
"""

from __future__ import annotations

from dataclasses import dataclass


def N_(msgid: str) -> str:
    return msgid


@dataclass(frozen=True)
class Kind:
    code: str
    title: str  # message id
    number_format: str  # default; DOCUMENT_NUMBER_FORMAT_<CODE> replaces it
    template: str
    addressed_to_applicant: bool = True
    # Delivered to the applicant by the result-delivery step (邮寄 / 窗口 / 网上送达): a 送达回证 lists these.
    result: bool = False


KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind("receipt", N_("Receipt of application materials"), "吉环收字〔{year}〕第{n}号", "receipt.html"),
        Kind("acceptance_notice", N_("Notice of acceptance"), "吉环受字〔{year}〕第{n}号", "acceptance_notice.html"),
        Kind("non_acceptance_notice", N_("Notice of non-acceptance"), "吉环不受字〔{year}〕第{n}号",
             "non_acceptance_notice.html"),
        Kind("supplement_notice", N_("One-time notice of missing materials"), "吉环补字〔{year}〕第{n}号",
             "supplement_notice.html"),
        Kind("grant_decision", N_("Decision to grant the licence"), "吉环审字〔{year}〕第{n}号",
             "grant_decision.html", result=True),
        Kind("refusal_decision", N_("Decision not to grant the licence"), "吉环审不字〔{year}〕第{n}号",
             "refusal_decision.html", result=True),
        Kind("filing_receipt", N_("Filing receipt"), "吉环备字〔{year}〕第{n}号", "filing_receipt.html", result=True),
        Kind("filing_return", N_("Notice of return of the filing"), "吉环备退字〔{year}〕第{n}号",
             "filing_return.html", result=True),
        Kind("proof_of_service", N_("Proof of service"), "吉环送字〔{year}〕第{n}号", "proof_of_service.html",
             addressed_to_applicant=False),
    )
}

# How a matter's law words its decision: 许可 (licence), 批准 (approval), 环评批复 (EIA approval), 确认.
WORDINGS = ("licence", "approval", "eia_approval", "confirmation")

_DECISION_TITLES = {
    ("grant_decision", "licence"): N_("Decision to grant the licence"),
    ("refusal_decision", "licence"): N_("Decision not to grant the licence"),
    ("grant_decision", "approval"): N_("Decision to approve"),
    ("refusal_decision", "approval"): N_("Decision not to approve"),
    ("grant_decision", "eia_approval"): N_("Approval of the environmental impact assessment document"),
    ("refusal_decision", "eia_approval"): N_("Decision not to approve"),
    ("grant_decision", "confirmation"): N_("Decision to confirm"),
    ("refusal_decision", "confirmation"): N_("Decision not to confirm"),
}


def title_msgid(kind: str, wording: str | None = None) -> str:
    """The message id of a document's title; decisions follow the matter's wording."""
    return _DECISION_TITLES.get((kind, wording or "licence"), KINDS[kind].title)
