"""codetune: the code shared by the three functions and the command line."""
