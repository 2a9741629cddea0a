"""Training, evaluation, export and device targets of the mobile segmenters (installed as ``portraitkit.train``)."""
