"""Region profile (统筹区概况, ``yibao summary``): the profile pipeline (``profile.pipelines``) and its report
for people (``profile.report``)."""

from yibao.profile.pipelines import PROFILE
from yibao.profile.report import print_summary, run_profile, year_scheme_setting

__all__ = ["PROFILE", "print_summary", "run_profile", "year_scheme_setting"]
