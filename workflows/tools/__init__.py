"""Tools that (re)draw the diagrams; see diagrams.py."""
