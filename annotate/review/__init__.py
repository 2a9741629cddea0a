"""The FiftyOne review loop: build a review dataset, open the App, pull decisions back.

Modules:
- ``database``: connect to MongoDB (the user's ``database_uri`` or FiftyOne's own ``mongod``).
- ``build``: curated data (+ flags, clicks, predictions) -> a persistent FiftyOne dataset.
- ``views``: the saved views annotators start from.
- ``pull``: sample tags ``reject``/``accept`` and ``note`` -> ``reviews/decisions.csv``.
- ``app``: launch the FiftyOne App on a dataset.

FiftyOne is imported inside functions only, so importing this package stays cheap.
"""
