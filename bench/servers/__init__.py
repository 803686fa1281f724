"""The servers under test: our own (``tracking``) and the peers (``peers``)."""
