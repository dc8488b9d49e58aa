"""The legacy backend's planner and tables: the code-bison tuning pipeline job, which Vertex AI
refuses for new jobs since 2024-10-09. Kept apart from the generic parts of tuning/.

This package imports nothing at its top: the shared parameter table reads its tables
(models.py) without loading the planner."""
