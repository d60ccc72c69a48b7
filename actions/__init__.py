"""Thin rasa_sdk actions: read the tracker, call Kefu's service, dispatch, return events."""
