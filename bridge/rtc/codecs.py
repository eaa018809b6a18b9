"""What the bridge negotiates: the forwarded codecs and the header extensions it reads."""

from __future__ import annotations

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from bridge.contracts import TrackKind
from bridge.rtc import seam

# The only codecs the bridge offers, so publishers and subscribers always agree.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def offer_transport_cc() -> None:
    """Offer transport-wide congestion control on every forwarded codec (idempotent).

    A browser then numbers its packets and runs its own congestion control on the
    bridge's feedback instead of following REMB; an aiortc peer that answers with the
    extension but does not number its packets keeps getting REMB.
    """
    seam.require()
    seam.offer_transport_cc(FORWARDED_MIME_TYPES)


def codec_preferences(kind: TrackKind) -> list[RTCRtpCodecCapability]:
    wanted = FORWARDED_MIME_TYPES[kind]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in capabilities if c.mimeType in wanted]
