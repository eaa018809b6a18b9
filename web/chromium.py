"""How tiepdan starts Debian's headless Chromium: the end-to-end tests and `tiepdan bench
echo` drive the same browser with the same switches."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"  # Debian's package: nothing is downloaded
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # The machine reaches no network: without these Chromium tries it at start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    # A fake camera (640×480) and microphone. The switch is ...-media-stream:
    # "...-media-capture" does not exist and leaves the page with no camera at all.
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
