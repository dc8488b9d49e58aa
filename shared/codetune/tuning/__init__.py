"""Tuning: parameters and their sources, the rules both kinds of job share, the pipeline job
planner (plan.py) and the backends (backends/). Pure: no I/O."""
