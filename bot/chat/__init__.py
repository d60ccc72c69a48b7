"""The chat gateway: where every customer message enters, from any channel.

It sits above the conversations (the transcript, Rasa, the pub/sub hub) and the handoff desk
(which it asks what to tell a waiting customer, and when to ask for a rating)."""
