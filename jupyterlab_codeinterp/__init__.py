"""jupyterlab-codeinterp: Code Interpreter inside JupyterLab, on your own kernel, with any OpenAI-compatible model."""

try:
    from ._version import __version__
except ImportError:  # running from a source tree without a build
    import warnings

    warnings.warn("Importing 'jupyterlab_codeinterp' outside a proper installation.")
    __version__ = "dev"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyterlab-codeinterp"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .extension import CodeInterpExtension

    return [{"module": "jupyterlab_codeinterp", "app": CodeInterpExtension}]
