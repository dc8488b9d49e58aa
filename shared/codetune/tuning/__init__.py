"""Tuning, whatever the backend: parameters and their sources, the rules every kind of job
shares, the budget, and the backends (backends/). Each backend's own planner and tables live
beside it: gemini/, and the legacy code-bison pipeline's, pipeline/. Pure: no I/O."""
