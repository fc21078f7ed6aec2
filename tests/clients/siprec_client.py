#!/usr/bin/env python3
"""A SIPREC recording client (SRC) for the tests: records a stereo 8 kHz WAV call into a
recording server over SIP UDP, TCP or TLS, the way an SBC does.

INVITE (Require: siprec, two sendonly streams labelled 1 = customer/left and 2 = agent/right,
PCMU), answering a digest challenge when --user/--password are given, ACK, RTP for both legs
(SRTP with SDES keys, encrypted by libsrtp through pylibsrtp, with --srtp), then BYE.

--forge-at S sends, S seconds into the call, a BYE with a wrong From tag and a BYE with the
right tags from another address (127.0.0.2), and reports the answers: a recording server must
refuse both and keep recording.

Prints one JSON object per line: {"step": ..., "code": ...} and the answer's details.
"""
import argparse
import base64
import hashlib
import json
import os
import random
import re
import socket
import ssl
import struct
import sys
import time
import uuid
import wave

FRAME = 160  # 20 ms at 8 kHz


def ulaw_table():
    table = bytearray(65536)
    for i in range(65536):
        s = i - 65536 if i >= 32768 else i
        sign = 0x80 if s < 0 else 0
        s = min(-s if s < 0 else s, 32635) + 0x84
        exp, mask = 7, 0x4000
        while exp > 0 and not (s & mask):
            exp -= 1
            mask >>= 1
        mant = (s >> (exp + 3)) & 0x0F
        table[i] = ~(sign | (exp << 4) | mant) & 0xFF
    return table


ULAW = ulaw_table()


def out(step, **kw):
    print(json.dumps({"step": step, **kw}), flush=True)


class Sip:
    """One SIP connection (UDP socket, TCP or TLS stream) to the server."""

    def __init__(self, transport, host, port, cafile, bind="127.0.0.1"):
        self.transport, self.server = transport, (host, port)
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((bind, 0))
        else:
            raw = socket.create_connection((host, port), source_address=(bind, 0))
            if transport == "tls":
                ctx = ssl.create_default_context(cafile=cafile)
                raw = ctx.wrap_socket(raw, server_hostname="localhost")
            self.sock = raw
        self.sock.settimeout(10)
        self.local = self.sock.getsockname()
        self.buf = b""

    def send(self, text):
        data = text.replace("\n", "\r\n").encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self):
        """The next whole message: (code or None, headers dict (lowercase, first value), body)."""
        if self.transport == "udp":
            raw = self.sock.recv(65535)
        else:
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end >= 0:
                    m = re.search(rb"(?im)^(content-length|l)\s*:\s*(\d+)", self.buf[:head_end])
                    length = int(m.group(2)) if m else 0
                    if len(self.buf) >= head_end + 4 + length:
                        raw = self.buf[: head_end + 4 + length]
                        self.buf = self.buf[head_end + 4 + length :]
                        break
                chunk = self.sock.recv(65535)
                if not chunk:
                    raise SystemExit("server closed the SIP connection")
                self.buf += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        code = int(lines[0].split()[1]) if lines[0].startswith("SIP/2.0") else None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return code, headers, body.decode(errors="replace")

    def final(self):
        while True:
            code, headers, body = self.recv()
            if code is not None and code >= 200:
                return code, headers, body


def sdp(media_ip, ports, keys):
    proto = "RTP/SAVP" if keys else "RTP/AVP"
    s = f"v=0\no=- 1 1 IN IP4 {media_ip}\ns=-\nc=IN IP4 {media_ip}\nt=0 0\n"
    for i, port in enumerate(ports):
        s += f"m=audio {port} {proto} 0\na=rtpmap:0 PCMU/8000\na=sendonly\na=label:{i + 1}\n"
        if keys:
            s += f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(keys[i]).decode()}\n"
    return s


def request(method, a, sip, call_id, cseq, from_tag, to_tag="", body="", extra=""):
    t = a.transport.upper()
    lh, lp = sip.local[0], sip.local[1]
    to = f"<sip:srs@{a.host}:{a.port}>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\n" if body else ""
    return (
        f"{method} sip:srs@{a.host}:{a.port} SIP/2.0\n"
        f"Via: SIP/2.0/{t} {lh}:{lp};branch=z9hG4bK{uuid.uuid4().hex[:16]}\n"
        f"From: <sip:src@{lh}:{lp}>;tag={from_tag}\n"
        f"To: {to}\n"
        f"Call-ID: {call_id}\n"
        f"CSeq: {cseq} {method}\n"
        f"Contact: <sip:src@{lh}:{lp};transport={a.transport}>;+sip.src\n"
        f"Max-Forwards: 70\n"
        + ("Require: siprec\n" if method == "INVITE" else "")
        + extra
        + ctype
        + f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)).encode())}\n\n"
        + body
    )


def digest(a, www, method):
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', www))
    uri = f"sip:srs@{a.host}:{a.port}"
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    ha1 = md5(f"{a.user}:{params['realm']}:{a.password}")
    ha2 = md5(f"{method}:{uri}")
    cnonce, nc = uuid.uuid4().hex[:8], "00000001"
    resp = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Authorization: Digest username="{a.user}", realm="{params["realm"]}", '
        f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", algorithm=MD5, '
        f'qop=auth, nc={nc}, cnonce="{cnonce}"\n'
    )


def read_legs(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 2 or w.getframerate() != 8000:
            raise SystemExit(f"{path}: need 16-bit stereo 8 kHz PCM")
        raw = w.readframes(w.getnframes())
    s = struct.unpack(f"<{len(raw) // 2}h", raw)
    return [bytes(ULAW[x & 0xFFFF] for x in s[c::2]) for c in (0, 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    ap.add_argument("--cafile")
    ap.add_argument("--wav", required=True)
    ap.add_argument("--call-id", default=None)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--srtp", action="store_true")
    ap.add_argument("--forge-at", type=float, default=None)
    a = ap.parse_args()
    call_id = a.call_id or uuid.uuid4().hex
    legs = read_legs(a.wav)
    sip = Sip(a.transport, a.host, a.port, a.cafile)
    rtp = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in legs]
    for s in rtp:
        s.bind(("127.0.0.1", 0))
    keys = [os.urandom(30) for _ in legs] if a.srtp else None
    body = sdp("127.0.0.1", [s.getsockname()[1] for s in rtp], keys)
    from_tag, cseq = uuid.uuid4().hex[:10], 1
    sip.send(request("INVITE", a, sip, call_id, cseq, from_tag, body=body))
    code, headers, answer = sip.final()
    if code == 401 and a.user:
        out("challenged", code=code)
        cseq += 1
        auth = digest(a, headers["www-authenticate"], "INVITE")
        sip.send(request("INVITE", a, sip, call_id, cseq, from_tag, body=body, extra=auth))
        code, headers, answer = sip.final()
    out("invite", code=code, contact=headers.get("contact", ""), warning=headers.get("warning", ""), sdp=answer)
    if code != 200:
        return
    to_tag = re.search(r"tag=([^;>\s]+)", headers["to"]).group(1)
    sip.send(request("ACK", a, sip, call_id, cseq, from_tag, to_tag))
    ports = [int(p) for p in re.findall(r"(?m)^m=audio (\d+)", answer)]
    sessions = None
    if a.srtp:
        import pylibsrtp

        sessions = []
        for k in keys:
            policy = pylibsrtp.Policy(key=k, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
            sessions.append(pylibsrtp.Session(policy=policy))
    ssrc = [random.getrandbits(32) for _ in legs]
    seq = [random.getrandbits(16) for _ in legs]
    start = time.monotonic()
    frames = max(len(x) for x in legs) // FRAME
    forged = a.forge_at is None
    for n in range(frames):
        for i, leg in enumerate(legs):
            payload = leg[n * FRAME : (n + 1) * FRAME].ljust(FRAME, b"\xff")
            pkt = struct.pack(">BBHII", 0x80, 0, (seq[i] + n) & 0xFFFF, n * FRAME, ssrc[i]) + payload
            if sessions:
                pkt = sessions[i].protect(pkt)
            rtp[i].sendto(pkt, ("127.0.0.1", ports[i]))
        if not forged and n * 0.02 >= a.forge_at:
            forged = True
            cseq += 1
            sip.send(request("BYE", a, sip, call_id, cseq, "forged-tag", to_tag))
            out("forged_bye_wrong_tag", code=sip.final()[0])
            other = Sip(a.transport, a.host, a.port, a.cafile, bind="127.0.0.2")
            other.send(request("BYE", a, other, call_id, cseq + 1, from_tag, to_tag))
            out("forged_bye_other_address", code=other.final()[0])
        ahead = (n + 1) * 0.02 / a.speed - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    time.sleep(0.3)
    cseq += 2
    sip.send(request("BYE", a, sip, call_id, cseq, from_tag, to_tag))
    out("bye", code=sip.final()[0])


if __name__ == "__main__":
    main()
