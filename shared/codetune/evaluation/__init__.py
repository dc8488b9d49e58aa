"""Is the tuned model better than its base? The evaluation's pure core: each answer's scores
against the reference (metrics), the verdict over paired scores (verdict), and what answering
the evaluation examples on both models costs (cost). Nothing here calls a service."""
