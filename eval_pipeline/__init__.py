"""eval_pipeline: scheduled, longitudinal LLM evals on Dagster."""
