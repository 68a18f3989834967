"""Shared pytest fixtures (the lead extends this file)."""

from scripted_fixtures import *  # noqa: F401,F403  scripted_model, scripted_config, model_client
