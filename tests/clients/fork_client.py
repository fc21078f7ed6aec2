#!/usr/bin/env python3
"""Streams a WAV call into callwatch over a WebSocket media fork and records the live events.

Formats:
  twilio  Twilio Media Streams JSON (connected/start/media/stop), 8 kHz mu-law, one track per leg:
          left channel = inbound (customer), right channel = outbound (agent).
  audio   FreeSWITCH mod_audio_fork: a JSON metadata text frame, then binary 16-bit LE PCM
          frames (stereo interleaved: left = caller, right = agent), deliberately not aligned
          to sample boundaries.

Prints every event received for the call as one JSON line on stdout, ending after `call.ended`.
"""
import argparse
import ssl
import os
import asyncio
import base64
import json
import sys
import time
import uuid
import wave

import websockets


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 16-bit PCM")
        rate, ch, n = w.getframerate(), w.getnchannels(), w.getnframes()
        raw = w.readframes(n)
    samples = memoryview(raw).cast("h")
    chans = [list(samples[c::ch]) for c in range(ch)]
    return rate, chans, raw


BIAS, CLIP = 0x84, 32635


def mulaw_encode(x):
    """ITU-T G.711 mu-law, one sample."""
    sign = 0x80 if x < 0 else 0
    if x < 0:
        x = -x
    x = min(x, CLIP) + BIAS
    exp, mask = 7, 0x4000
    while exp > 0 and not (x & mask):
        exp -= 1
        mask >>= 1
    mant = (x >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | mant)) & 0xFF


async def pace(start, media_s, speed):
    ahead = media_s / speed - (time.monotonic() - start)
    if ahead > 0:
        await asyncio.sleep(ahead)


TOKEN = os.environ.get("CALLWATCH_TOKEN", "")
# The CA (or self-signed certificate) that signs a wss:// server's certificate.
CAFILE = os.environ.get("CALLWATCH_CAFILE", "")


def connect(url, **kw):
    """websockets.connect with the API token (CALLWATCH_TOKEN) as a bearer header, trusting
    CALLWATCH_CAFILE on wss:// URLs."""
    if TOKEN:
        kw["additional_headers"] = {"Authorization": f"Bearer {TOKEN}"}
    if url.startswith("wss://") and CAFILE:
        kw["ssl"] = ssl.create_default_context(cafile=CAFILE)
    return websockets.connect(url, **kw)


async def send_twilio(url, call_id, rate, chans, speed, params):
    if rate != 8000:
        raise SystemExit("twilio format needs an 8 kHz WAV")
    legs = {"inbound": chans[0], "outbound": chans[1] if len(chans) > 1 else None}
    sid = "MZ" + uuid.uuid4().hex
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        tracks = [t for t, s in legs.items() if s is not None]
        await ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": sid,
            "start": {"streamSid": sid, "accountSid": "AC" + "0" * 32, "callSid": call_id,
                      "tracks": tracks, "customParameters": params,
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
        }))
        seq, start, n = 2, time.monotonic(), len(chans[0])
        for i, off in enumerate(range(0, n, 160)):
            for track in tracks:
                chunk = bytes(mulaw_encode(s) for s in legs[track][off:off + 160])
                await ws.send(json.dumps({
                    "event": "media", "sequenceNumber": str(seq), "streamSid": sid,
                    "media": {"track": track, "chunk": str(i + 1), "timestamp": str(i * 20),
                              "payload": base64.b64encode(chunk).decode()},
                }))
                seq += 1
            await pace(start, (i + 1) * 0.02, speed)
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(seq), "streamSid": sid,
                                  "stop": {"accountSid": "AC" + "0" * 32, "callSid": call_id}}))
        await asyncio.sleep(0.2)


async def send_audio_fork(url, call_id, rate, chans, raw, speed, params):
    mix = "stereo" if len(chans) == 2 else "mono"
    sep = "&" if "?" in url else "?"
    url = f"{url}{sep}sampleRate={rate}&mixType={mix}"
    async with connect(url, subprotocols=["audio.drachtio.org"], max_size=None) as ws:
        meta = {"callId": call_id, "sampleRate": rate, "mixType": mix, **params}
        await ws.send(json.dumps(meta))
        bytes_per_s = rate * 2 * len(chans)
        # 3203 bytes: frames end mid-sample and mid-stereo-pair, as buffer-sized frames do.
        step, start, sent = 3203, time.monotonic(), 0
        while sent < len(raw):
            frame = raw[sent:sent + step]
            await ws.send(frame)
            sent += len(frame)
            await pace(start, sent / bytes_per_s, speed)
        await ws.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="ws://HOST:PORT")
    ap.add_argument("--format", choices=["twilio", "audio"], required=True)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--call-id", default=None)
    ap.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    ap.add_argument("--param", action="append", default=[], help="key=value custom parameter")
    ap.add_argument("--timeout", type=float, default=240)
    a = ap.parse_args()
    call_id = a.call_id or ("CA" + uuid.uuid4().hex)
    params = dict(p.split("=", 1) for p in a.param)
    rate, chans, raw = read_wav(a.wav)

    events = []
    async with connect(f"{a.base}/v1/events?call_id={call_id}", max_size=None) as ev:
        async def collect():
            async for msg in ev:
                e = json.loads(msg)
                events.append(e)
                print(json.dumps(e, ensure_ascii=False), flush=True)
                if e.get("type") == "call.ended":
                    return

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0.1)
        if a.format == "twilio":
            await send_twilio(f"{a.base}/v1/fork/twilio", call_id, rate, chans, a.speed, params)
        else:
            await send_audio_fork(f"{a.base}/v1/fork/audio", call_id, rate, chans, raw, a.speed, params)
        try:
            await asyncio.wait_for(collector, a.timeout)
        except asyncio.TimeoutError:
            print(json.dumps({"type": "client.timeout", "call_id": call_id}), flush=True)
            sys.exit(2)


if __name__ == "__main__":
    asyncio.run(main())
