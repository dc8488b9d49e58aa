"""codetune: the code the four functions (validate, tune, status, sweep) and the command line
share."""
