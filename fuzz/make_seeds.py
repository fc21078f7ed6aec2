#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: real inputs for each fuzz target, cut from the fixtures, in
the layout each target reads (see the target's doc comment). The fuzz smoke test passes
them to libFuzzer as a read-only corpus, so every run starts from valid messages.

    python3 fuzz/make_seeds.py
"""

import base64
import json
import re
import struct
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def put(target: str, name: str, data: bytes) -> None:
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def mime_parts(sip: bytes) -> dict[str, bytes]:
    """Body parts of a multipart SIPREC INVITE, by content type."""
    head, _, body = sip.partition(b"\r\n\r\n")
    m = re.search(rb'boundary="?([^";\r\n]+)', head)
    if not m:
        return {}
    parts = {}
    for part in body.split(b"--" + m.group(1)):
        h, _, content = part.partition(b"\r\n\r\n")
        t = re.search(rb"Content-Type:\s*([^\r\n;]+)", h, re.I)
        if t:
            parts[t.group(1).strip().decode().lower()] = content.rstrip(b"\r\n")
    return parts


def pcap_payloads(path: Path, limit: int) -> list[bytes]:
    """UDP payloads of an Ethernet/IPv4 pcap."""
    d = path.read_bytes()
    out, off = [], 24
    while off + 16 <= len(d) and len(out) < limit:
        incl = struct.unpack("<I", d[off + 8:off + 12])[0]
        frame = d[off + 16:off + 16 + incl]
        off += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        out.append(frame[14 + ihl + 8:])
    return out


def mono_pcm(path: Path, channel: int, frames: int) -> bytes:
    with wave.open(str(path)) as w:
        n = w.getnchannels()
        raw = w.readframes(frames)
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    return struct.pack(f"<{len(samples) // n}h", *samples[channel::n])


def mulaw(pcm: bytes) -> bytes:
    out = bytearray()
    for (x,) in struct.iter_unpack("<h", pcm):
        sign = 0x80 if x < 0 else 0
        x = min(abs(x), 32635) + 0x84
        exp = max(0, x.bit_length() - 8)
        out.append(~(sign | (exp << 4) | ((x >> (exp + 3)) & 0x0F)) & 0xFF)
    return bytes(out)


def main() -> None:
    for sip in sorted((ROOT / "fixtures/siprec").glob("*.sip")):
        data = sip.read_bytes()
        put("sip_message", sip.stem, data)
        parts = mime_parts(data)
        if "application/sdp" in parts:
            put("sdp_offer", sip.stem, parts["application/sdp"])
        if "application/rs-metadata+xml" in parts:
            put("rs_metadata", sip.stem, parts["application/rs-metadata+xml"])
    for sdp in sorted((ROOT / "fixtures/whip").glob("*.sdp")):
        put("sdp_offer", sdp.stem, sdp.read_bytes())
        put("whip_offer", sdp.stem, sdp.read_bytes())
        put("whip_offer", sdp.stem + "_with_params",
            b"call_id=c1&participant=p1&role=customer&language=zh\nX-Queue: card\n")

    for pcap in sorted((ROOT / "fixtures/siprec").glob("*.pcap")):
        rec = bytearray([0])  # selector 0: PCMU at 8 kHz
        for p in pcap_payloads(pcap, 60):
            rec += bytes([min(len(p), 255), 20]) + p[:255]
        put("rtp_packets", pcap.stem, bytes(rec))

    call = ROOT / "fixtures/calls/call_en_8k.wav"
    start = {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
             "start": {"streamSid": "MZ1", "callSid": "CA1", "tracks": ["inbound", "outbound"],
                       "customParameters": {"agent_id": "a7", "queue": "card", "language": "en"},
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                       "channels": 1}}}
    lines = [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
             json.dumps(start)]
    for track, ch in (("inbound", 0), ("outbound", 1)):
        pcm = mono_pcm(call, ch, 8000)
        for i in range(0, 8 * 160 * 2, 160 * 2):
            payload = base64.b64encode(mulaw(pcm[i:i + 320])).decode()
            lines.append(json.dumps({"event": "media", "streamSid": "MZ1",
                                     "media": {"track": track, "chunk": str(i // 320 + 1),
                                               "timestamp": str(i // 16), "payload": payload}}))
    lines.append(json.dumps({"event": "stop", "streamSid": "MZ1"}))
    put("twilio_json", "call_en_8k", "\n".join(lines).encode())

    wav16 = ROOT / "fixtures/calls/call_en.wav"
    with wave.open(str(wav16)) as w:
        stereo = w.readframes(1600)
    meta = json.dumps({"callId": "fs1", "sampleRate": 16000, "mixType": "stereo",
                       "agent_id": "a7"}).encode()
    rec = bytearray([1 + 8 * 1])  # rate 16000, mix stereo
    rec += bytes([0, len(meta)]) + meta
    for i in range(0, len(stereo), 250):  # odd-sized frames, as forks send them
        chunk = stereo[i:i + 250]
        rec += bytes([1, len(chunk)]) + chunk
    put("audio_fork_frames", "call_en_stereo", bytes(rec))

    uuid = bytes(range(16))
    stream = bytearray([0x01, 0, 16]) + uuid
    pcm = mono_pcm(ROOT / "fixtures/calls/call_en_8k.wav", 0, 1600)
    for i in range(0, len(pcm), 320):
        stream += bytes([0x10]) + struct.pack(">H", len(pcm[i:i + 320])) + pcm[i:i + 320]
    stream += bytes([0x03, 0, 1]) + b"5" + bytes([0x00, 0, 0])
    put("audiosocket_stream", "call_en_8k", bytes([37]) + stream)

    for i, q in enumerate([
        "q=投诉&speaker=customer&limit=5",
        "q=%22file+a+complaint%22&from=2026-01-01T00:00:00Z",
        "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&agent_id=a7&category=complaint&limit=20",
        "min_score=60&max_score=80&passed=false&failed_item=greeting&offset=20",
        "type=phrase.hit,transcript.final&speaker=agent&call_id=c1&window=15m",
    ]):
        put("http_query", f"query_{i}", q.encode())

    for i, t in enumerate([
        "卡号是6222 0212 3456 7890 128",
        "My card number is 4532, 0151, yes, 1283, okay, 0366.",
        "号码是18495019900。\n9033 77X。",
        "身份证号一八四九五零一九九零零\n九零三三七七叉",
        "我收到的验证码是\n四八二九一三",
        "手机13812345678，转账5000元，金额是 8800",
    ]):
        put("redactor", f"text_{i}", t.encode())

    # What nodes of a cluster write to the NATS stream: an event envelope and observations.
    put("bus_message", "event_call_ended", json.dumps({
        "scope": ["a1", "wealth"],
        "event": {"type": "call.ended", "call_id": "c1", "reason": "bye",
                  "duration_ms": 1200, "at": "2026-12-05T12:00:00Z"},
    }, separators=(",", ":")).encode())
    put("bus_message", "obs_call_started", json.dumps(
        {"kind": "call_started", "call_id": "c1", "queue": "cards", "at_ms": 1780000030000},
        separators=(",", ":")).encode())
    put("bus_message", "obs_customer_final", json.dumps(
        {"kind": "customer_final", "call_id": "c1", "text": "有人冒充客服让我转账到安全账户",
         "at_ms": 1780000040000}, separators=(",", ":"), ensure_ascii=False).encode())
    put("bus_message", "obs_phrase_hits_min_time", json.dumps(
        {"kind": "phrase_hits", "call_id": "c1", "categories": ["complaint", "fraud"],
         "at_ms": -9223372036854775808}, separators=(",", ":")).encode())
    # Recognition jobs (headers, a NUL, 16-bit PCM) and a worker's result.
    policy = json.dumps({"allowed": ["zh", "en"], "forced": None, "assumed": "zh",
                         "bias": {"zh": "保本保息", "en": ""}},
                        separators=(",", ":"), ensure_ascii=False)
    headers = (f"Cw-Job: 0f1e2d\nCw-Node: n1\nCw-Kind: final\nCw-Policy: {policy}\n"
               "Cw-Sent-Ms: 1780000000000\n").encode()
    pcm = b"".join(int(3000 * ((i % 40) - 20) / 20).to_bytes(2, "little", signed=True)
                   for i in range(800))
    put("bus_message", "asr_job_final", headers + b"\0" + pcm)
    put("bus_message", "asr_result", json.dumps(
        {"job": "0f1e2d", "worker": "w1", "outcome": {"transcript": {
            "text": "保本保息", "language": "zh", "segments": [
                {"start_ms": 0, "end_ms": 900, "text": "保本保息", "no_speech_prob": 0.01}],
            "dropped": None, "language_share": 0.93, "looped": False}}},
        separators=(",", ":"), ensure_ascii=False).encode())
    lexicon = '[[term]]\ntext = "保本保息"\ncategory = "sales_promise"\n'
    files = {"lexicons": [{"name": "/etc/callwatch/lexicons/a.toml", "text": lexicon}],
             "rules": []}
    put("bus_message", "control_inspection_set", json.dumps(
        {"node": "n1", "digest": set_digest(files), "files": files},
        separators=(",", ":"), ensure_ascii=False).encode())


def set_digest(files: dict) -> str:
    """The digest a node checks a published lexicon set against (see InspectionFiles::digest)."""
    import hashlib
    h = hashlib.sha256()
    for kind, key in (("lexicon", "lexicons"), ("rules", "rules")):
        for f in files[key]:
            for part in (kind, f["name"].rsplit("/", 1)[-1], f["text"]):
                b = part.encode()
                h.update(struct.pack("<Q", len(b)))
                h.update(b)
    return h.hexdigest()


if __name__ == "__main__":
    main()
