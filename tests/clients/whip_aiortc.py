#!/usr/bin/env python3
"""Publishes the channels of a WAV call to callwatch over WHIP (RFC 9725) with aiortc, one
WebRTC session per participant, and records the call's live events.

  --publish NAME:ROLE:CHANNEL[:video]   one participant per option (video adds a camera track
                                        whose frames callwatch must accept and ignore)
  --vanish-after S                      stop sending after S seconds of media and exit without
                                        DELETE (a publisher that crashed); no events are read

Prints every event of the call as one JSON line on stdout, ending after `call.ended`.
"""
import argparse
import asyncio
import fractions
import json
import os
import sys
import time
import urllib.request
import wave

import av
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

FRAME_MS = 20


def read_channels(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 16-bit PCM")
        rate, ch, n = w.getframerate(), w.getnchannels(), w.getnframes()
        raw = w.readframes(n)
    samples = memoryview(raw).cast("h")
    return rate, [samples[c::ch].tobytes() for c in range(ch)]


class WavTrack(MediaStreamTrack):
    """One channel of the WAV as a live microphone: 20 ms frames at real-time pace, then a
    second of silence so the last utterance closes."""

    kind = "audio"

    def __init__(self, rate, pcm, stop_after=None):
        super().__init__()
        self.rate = rate
        self.pcm = pcm + bytes(rate * 2)
        self.n = rate * FRAME_MS // 1000
        self.pos = 0
        self.start = None
        self.stop_after = stop_after
        self.finished = asyncio.Event()

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        pts = self.pos // 2
        if self.stop_after is not None and pts / self.rate >= self.stop_after:
            self.finished.set()
            await asyncio.sleep(3600)
        if self.pos >= len(self.pcm):
            self.finished.set()
            chunk = bytes(self.n * 2)
        else:
            chunk = self.pcm[self.pos:self.pos + self.n * 2].ljust(self.n * 2, b"\0")
        self.pos += self.n * 2
        delay = self.start + pts / self.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.n)
        frame.planes[0].update(chunk)
        frame.sample_rate = self.rate
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


async def publish(base, call_id, name, role, track, video, token, queue):
    pc = RTCPeerConnection()
    pc.addTransceiver(track, direction="sendonly")
    if video:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    # aiortc gathers every candidate before the offer is complete: no trickle needed.
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    q = f"call_id={call_id}&participant={name}&role={role}" + (f"&queue={queue}" if queue else "")
    status, h, body = await asyncio.to_thread(
        http, "POST", f"{base}/v1/whip?{q}", pc.localDescription.sdp.encode(), headers)
    if status != 201:
        raise SystemExit(f"publish {name}: HTTP {status} {body}")
    location = h.get("Location") or h.get("location")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return pc, location, headers


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="http://HOST:PORT")
    ap.add_argument("--call-id", required=True)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--publish", action="append", required=True)
    ap.add_argument("--token", default="", help="ingest token for publishing")
    ap.add_argument("--events-token", default="", help="token that may read /v1/events")
    ap.add_argument("--queue", default="")
    ap.add_argument("--vanish-after", type=float, default=None)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    rate, chans = read_channels(a.wav)
    ws_url = a.base.replace("http://", "ws://") + f"/v1/events?call_id={a.call_id}"
    ev_token = a.events_token or a.token
    ev_headers = {"Authorization": f"Bearer {ev_token}"} if ev_token else {}
    events = None if a.vanish_after is not None else await websockets.connect(
        ws_url, additional_headers=ev_headers)
    sessions = []
    for spec in a.publish:
        name, role, ch, *rest = spec.split(":")
        track = WavTrack(rate, chans[int(ch)], a.vanish_after)
        pc, loc, headers = await publish(a.base, a.call_id, name, role, track,
                                         "video" in rest, a.token, a.queue)
        sessions.append((pc, loc, track, headers))
    for _, _, track, _ in sessions:
        await track.finished.wait()
    if a.vanish_after is not None:
        # Gone without a word: no DELETE, no DTLS close alert.
        os._exit(0)
    for pc, loc, _, headers in sessions:
        status, _, body = await asyncio.to_thread(http, "DELETE", a.base + loc, None, headers)
        if status != 200:
            raise SystemExit(f"DELETE {loc}: HTTP {status} {body}")
        await pc.close()
    deadline = time.monotonic() + a.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit("timed out waiting for call.ended")
        msg = await asyncio.wait_for(events.recv(), left)
        print(msg, flush=True)
        if json.loads(msg).get("type") == "call.ended":
            break


if __name__ == "__main__":
    asyncio.run(main())
