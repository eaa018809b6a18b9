"""The seam between the bridge and aiortc.

aiortc routes RTP and RTCP from its DTLS transport to receivers and senders through two
small protocols (`RtpReceiver._handle_rtp_packet`, `_handle_rtcp_packet`, and the sender's
`_handle_rtcp_packet`; see aiortc `rtcdtlstransport.py`). The bridge plugs in there:

- `receive`: `InboundTap` (a published track's packets to the forwarder, and the feedback
  its publisher is owed) and `FastReceive` (SRTP media straight from the UDP sockets);
- `send`: `SlotSender` (a slot's frames as RTP, NACKs answered from its own history);
- `codecs`: what is negotiated;
- `seam`: every private of aiortc, aioice and pylibsrtp these use, listed and checked.
"""

from bridge.rtc.codecs import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    FORWARDED_MIME_TYPES,
    MID_URI,
    codec_preferences,
    offer_transport_cc,
)
from bridge.rtc.receive import FastReceive, InboundTap, WindowRate
from bridge.rtc.seam import srtp_direct
from bridge.rtc.send import FrameQueue, SlotSender, remote_inbound

__all__ = [
    "ABS_SEND_TIME_URI",
    "AUDIO_LEVEL_URI",
    "FORWARDED_MIME_TYPES",
    "MID_URI",
    "FastReceive",
    "FrameQueue",
    "InboundTap",
    "SlotSender",
    "WindowRate",
    "codec_preferences",
    "offer_transport_cc",
    "remote_inbound",
    "srtp_direct",
]
