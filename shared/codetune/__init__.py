"""codetune: the code the five functions (validate, tune, status, sweep, evaluate) and the command line
share."""
