#!/usr/bin/env python3
"""Plays a stereo 8 kHz WAV call into an AudioSocket server the way Asterisk's AudioSocket()
does: one TCP connection per leg, each opening with the same call UUID (type 0x01), then 20 ms
frames of signed 16-bit little-endian audio (type 0x10, 320 bytes), then hangup (type 0x00).

The left channel (customer) connects first, so it becomes the customer leg; the right channel
(agent) second. Standard library only.
"""
import argparse
import socket
import struct
import sys
import time
import uuid
import wave

FRAME_SAMPLES = 160  # 20 ms at 8 kHz


def message(kind, payload=b""):
    return struct.pack(">BH", kind, len(payload)) + payload


def read_channels(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 2 or w.getframerate() != 8000:
            raise SystemExit(f"{path}: need 16-bit stereo 8 kHz PCM")
        raw = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    return samples[0::2], samples[1::2]


def frames(channel):
    for i in range(0, len(channel), FRAME_SAMPLES):
        chunk = channel[i : i + FRAME_SAMPLES]
        yield message(0x10, struct.pack(f"<{len(chunk)}h", *chunk))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--uuid", default=str(uuid.uuid4()))
    ap.add_argument("--speed", type=float, default=1.0, help="playback speed (2 = twice real time)")
    a = ap.parse_args()

    left, right = read_channels(a.wav)
    call = uuid.UUID(a.uuid).bytes
    customer = socket.create_connection((a.host, a.port))
    customer.sendall(message(0x01, call))
    # Let the server read the customer's UUID first: arrival order decides the roles.
    time.sleep(0.3)
    agent = socket.create_connection((a.host, a.port))
    agent.sendall(message(0x01, call))
    time.sleep(0.3)

    period = FRAME_SAMPLES / 8000 / a.speed
    t0 = time.monotonic()
    for n, (fc, fa) in enumerate(zip(frames(left), frames(right))):
        customer.sendall(fc)
        # A DTMF digit on the agent leg midway, as a caller keying in an option would send.
        if n == 100:
            agent.sendall(message(0x03, b"5"))
        agent.sendall(fa)
        delay = t0 + (n + 1) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for s in (customer, agent):
        s.sendall(message(0x00))
        s.shutdown(socket.SHUT_WR)
        # The server closes after the hangup; wait for it so nothing is cut short.
        s.settimeout(30)
        while s.recv(4096):
            pass
        s.close()
    print(f"streamed {len(left) / 8000:.1f} s per leg as call {a.uuid}", file=sys.stderr)


if __name__ == "__main__":
    main()
