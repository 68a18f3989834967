"""Shared pytest fixtures: the scripted model, kernels, the server and its sockets."""

from scripted_fixtures import *  # noqa: F401,F403  scripted_model, scripted_config, model_client
