"""Data quality (数据质量): the contract checks of a load, as engine-neutral pipelines (``quality.pipelines``)."""

from yibao.quality.pipelines import CASES_CHECKS, checks_pipeline

__all__ = ["CASES_CHECKS", "checks_pipeline"]
