"""What Kefu accepts as a customer's contact details, one rule for both sides: the service (which
stores them on a handoff) and the Rasa actions (which ask the customer for them). Depends only
on email-validator, so the actions' environment uses it too."""
