"""Baselines: stored runs (storage), allowed changes (thresholds), verdicts (compare)."""

from .compare import (
    Comparison,
    MetricChange,
    Verdict,
    compare,
    compare_all,
    compared_metrics,
    judge_change,
    not_in_baseline,
)
from .storage import (
    DEFAULT_DIRECTORY,
    BaselineMissing,
    baseline_path,
    check_name,
    list_baselines,
    load_baseline,
    read_document,
    resolve_baseline,
    results_by_test,
    save_baseline,
)
from .thresholds import COMPARE_FAIL_HELP, Threshold, parse_compare_fail

__all__ = [
    "COMPARE_FAIL_HELP",
    "DEFAULT_DIRECTORY",
    "BaselineMissing",
    "Comparison",
    "MetricChange",
    "Threshold",
    "Verdict",
    "baseline_path",
    "check_name",
    "compare",
    "compare_all",
    "compared_metrics",
    "judge_change",
    "list_baselines",
    "load_baseline",
    "not_in_baseline",
    "parse_compare_fail",
    "read_document",
    "resolve_baseline",
    "results_by_test",
    "save_baseline",
]
