"""Reports: the HTML data report of a dataset version."""
