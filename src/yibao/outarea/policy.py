"""The out-of-area policy (异地就医), section ``[out_of_area]`` of a policy file; the pooling region's own code is
the benefit policy's ``benefit.region_code`` (declared once there, handed to this capability by the caller)."""

from __future__ import annotations

from pathlib import Path

from yibao.contract.params import Param, ParamTable, Values
from yibao.contract.params import kinds as K
from yibao.contract.schema import CLAIM_DOCUMENTS
from yibao.settle.inbound import INBOUND_IN_LOCAL

DOCUMENT_ZH = {
    "doc_card": "社会保障卡（医保凭证）复印件",
    "doc_filing_form": "已确认的异地就医备案表",
    "doc_certificate": "出院记录或诊断证明（门诊特定项目附审批表）",
    "doc_itemised_list": "医疗费用明细清单",
    "doc_invoice": "医疗收费票据",
}
SEED_001 = "北京医保异地就医报销（种子 001）：自出院之日起 1 个月内，凭五项资料由参保单位申报"

PARAMS = ParamTable(
    name="out_of_area", title="异地就医", doc="docs/out-of-area.md",
    params=(
        Param("out_of_area.claim_deadline_months", 1, K.integer(1, 24), SEED_001,
              "零星报销申报期限：出院（就诊）之日起若干个自然月内", "月"),
        Param("out_of_area.required_documents", list(CLAIM_DOCUMENTS), K.text_list(CLAIM_DOCUMENTS), SEED_001,
              "零星报销必须提交的资料（缺任何一项即不予受理）"),
        Param("out_of_area.emergency_exempt", True, K.boolean(),
              "医保发〔2022〕22号：临时外出就医人员急诊抢救可视同已备案（异地急诊抢救）",
              "急诊抢救不要求备案（直接结算核查与零星报销均适用）"),
        Param("out_of_area.inbound_in_local", INBOUND_IN_LOCAL, K.boolean(),
              "种子 000（韶关）第五、六条：付费总额取本统筹区基金征收额，异地就医在参保地列支；"
              "外地参保人员在本地就医的费用由其参保地基金支付、按月清算，故默认不计入本地预算与 DIP/DRG 结算",
              "外地参保人员在本地就医的病例是否计入本地总额预算与 DIP/DRG 结算（true = 就医地统一管理）"),
    ),
)


def load_policy(path: Path | str | None = None) -> Values:
    return PARAMS.load(path)
