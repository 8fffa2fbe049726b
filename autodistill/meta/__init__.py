"""What past studies teach: meta-features, the meta-model, the knowledge base (and its
builder), the recommender, its evaluation, and reports on past studies.

May import: every package below it (study, store, training, data, registry).
"""

from __future__ import annotations

from autodistill._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "KnowledgeAdvisor": "advisor",
    "BENCH_TASKS": "component_bench",
    "bench_component": "component_bench",
    "bench_tasks": "component_bench",
    "component_family": "component_bench",
    "METHODS": "evaluation",
    "evaluate_recommender": "evaluation",
    "evaluate_rows": "evaluation",
    "render_evaluation": "evaluation",
    "read": "feature_cache",
    "task_key": "feature_cache",
    "write": "feature_cache",
    "META_FEATURES": "features",
    "compute_meta_features": "features",
    "student_task_features": "features",
    "Forest": "forest",
    "KB_POPULATION": "kb_build",
    "PORTFOLIO": "kb_build",
    "build_knowledge_base": "kb_build",
    "export_knowledge_base": "kb_build",
    "portfolio": "kb_build",
    "task_slug": "kb_build",
    "TASKS_FILE": "knowledge",
    "TRIALS_FILE": "knowledge",
    "ensure_knowledge_base": "knowledge",
    "load_meta_rows": "knowledge",
    "meta_rows_from_records": "knowledge",
    "read_evidence": "knowledge",
    "read_shipped": "knowledge",
    "shipped_version": "knowledge",
    "MetaModel": "model",
    "MetaRow": "model",
    "PipelineEncoder": "model",
    "fit_meta_model": "model",
    "group_by_task": "model",
    "TOP_FRACTION": "past_studies",
    "compare_studies": "past_studies",
    "component_stats": "past_studies",
    "delete_study": "past_studies",
    "export_trials": "past_studies",
    "list_studies": "past_studies",
    "param_importances": "past_studies",
    "plot_study": "past_studies",
    "show_study": "past_studies",
    "study_summary": "past_studies",
    "to_csv": "past_studies",
    "trial_pipeline": "past_studies",
    "candidate_pipelines": "recommender",
    "nearest_tasks": "recommender",
    "rank_for_task": "recommender",
    "recommend": "recommender",
    "recommend_for": "recommender",
    "recommend_pipelines": "recommender",
    "task_summary": "recommender",
    "FORMATS": "study_plots",
    "KBTask": "task_suite",
    "KB_SPACE": "task_suite",
    "kb_tasks": "task_suite",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
