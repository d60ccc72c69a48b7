"""Following one customer message through Kefu's processes, one rule for both sides: the
service and the Rasa actions. The request id (``X-Request-ID``, or in a message's metadata to
Rasa) and log lines that carry it, as text or JSON. The standard library only, so the actions'
environment (Python 3.10) uses it too."""
