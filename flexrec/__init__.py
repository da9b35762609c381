"""flexrec: server-side dual-channel call recording for Twilio Flex."""

from importlib.metadata import PackageNotFoundError, version

__version__ = "0.1.0"


def package_version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        return version("flexrec")
    except PackageNotFoundError:
        return __version__
