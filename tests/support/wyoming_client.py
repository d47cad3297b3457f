"""Drives `zoe serve` with the official Wyoming client (PyPI `wyoming`, as Home Assistant uses it)
for tests/serve.rs and `zoe bench serve`. Each command prints one JSON line.

  describe PORT                      info and how long it took
  transcribe PORT WAV...             every file at once, as separate clients
  speak PORT FIRST [REST]            a streaming synthesis as Home Assistant sends it (REST only
                                     once FIRST's audio came), then its audio transcribed back
  detect PORT WAV                    wake word detection on the file
  hostile PORT                       malformed clients, then a normal one
"""

import asyncio
import json
import sys
import time
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)
from wyoming.wake import Detect, Detection, NotDetected

HOST = "127.0.0.1"
SAMPLES = 1024


def read_wav(path):
    with wave.open(path) as w:
        return w.getframerate(), w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())


async def send_audio(c, rate, width, channels, pcm):
    await c.write_event(AudioStart(rate, width, channels).event())
    step = SAMPLES * width * channels
    for i in range(0, len(pcm), step):
        await c.write_event(AudioChunk(rate, width, channels, pcm[i : i + step]).event())
    await c.write_event(AudioStop().event())


async def describe(port):
    async with AsyncTcpClient(HOST, port) as c:
        t = time.monotonic()
        await c.write_event(Describe().event())
        e = await asyncio.wait_for(c.read_event(), 5)
        took = time.monotonic() - t
        info = Info.from_event(e)
        return {
            "seconds": took,
            "asr": [m.name for p in info.asr for m in p.models],
            "asr_streaming": [p.supports_transcript_streaming for p in info.asr],
            "tts": [v.name for p in info.tts for v in p.voices],
            "tts_streaming": [p.supports_synthesize_streaming for p in info.tts],
            "wake": [m.name for p in info.wake for m in p.models],
            "phrases": [m.phrase for p in info.wake for m in p.models],
        }


async def transcribe_pcm(port, rate, width, channels, pcm):
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Transcribe(language="en").event())
        await send_audio(c, rate, width, channels, pcm)
        t = time.monotonic()
        kinds, text = [], None
        while True:
            e = await asyncio.wait_for(c.read_event(), 180)
            if e is None:
                break
            kinds.append(e.type)
            if Transcript.is_type(e.type):
                text = Transcript.from_event(e).text
                took = time.monotonic() - t
            if Error.is_type(e.type):
                return {"error": e.data.get("text"), "events": kinds}
            if e.type == "transcript-stop":
                break
        return {"text": text, "seconds": took, "events": kinds}


async def transcribe(port, files):
    async def one(f):
        r = await transcribe_pcm(port, *read_wav(f))
        r["file"] = f
        return r

    return await asyncio.gather(*(one(f) for f in files))


async def speak(port, first_text, rest_text):
    """As Home Assistant streams a reply: start, the text in small pieces, the whole text again
    for servers that do not stream, stop. The rest of the text is sent only once the first
    part's audio has come (a server that waits for the end never answers: an error)."""
    text = f"{first_text} {rest_text}".strip()
    async with AsyncTcpClient(HOST, port) as c:
        t = time.monotonic()
        await c.write_event(SynthesizeStart().event())
        for word in first_text.split(" "):
            await c.write_event(SynthesizeChunk(word + " ").event())
        first, formats, groups, pcm, rest_sent = None, set(), 0, b"", False
        while True:
            e = await asyncio.wait_for(c.read_event(), 180)
            if e is None:
                return {"error": "closed before synthesize-stopped"}
            if e.type == "audio-start":
                groups += 1
                s = AudioStart.from_event(e)
                formats.add((s.rate, s.width, s.channels))
            elif e.type == "audio-chunk":
                ch = AudioChunk.from_event(e)
                formats.add((ch.rate, ch.width, ch.channels))
                if first is None:
                    first = time.monotonic() - t
                pcm += ch.audio
            elif SynthesizeStopped.is_type(e.type):
                break
            elif Error.is_type(e.type):
                return {"error": e.data.get("text")}
            if first is not None and not rest_sent:
                rest_sent = True
                for word in rest_text.split(" "):
                    await c.write_event(SynthesizeChunk(word + " ").event())
                await c.write_event(Synthesize(text).event())
                await c.write_event(SynthesizeStop().event())
        total = time.monotonic() - t
    (rate, width, channels) = sorted(formats)[0]
    heard = await transcribe_pcm(port, rate, width, channels, pcm)
    return {
        "first_audio_s": first,
        "total_s": total,
        "groups": groups,
        "formats": sorted(formats),
        "audio_s": len(pcm) / (rate * width * channels),
        "heard": heard.get("text"),
    }


async def detect(port, path):
    rate, width, channels, pcm = read_wav(path)
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Detect(names=["hey_zoe"]).event())
        await send_audio(c, rate, width, channels, pcm)
        e = await asyncio.wait_for(c.read_event(), 180)
        if Detection.is_type(e.type):
            return {"detected": True, "timestamp": e.data.get("timestamp"), "name": e.data.get("name")}
        return {"detected": False, "event": e.type}


async def raw(port, data, read=True):
    """Sends bytes; what came back before the server closed (or 8 s passed)."""
    r, w = await asyncio.open_connection(HOST, port)
    w.write(data)
    await w.drain()
    got = b""
    if read:
        try:
            while True:
                b = await asyncio.wait_for(r.read(65536), 8)
                if not b:
                    break
                got += b
        except asyncio.TimeoutError:
            got += b"<still open>"
    w.close()
    return got.decode("utf-8", "replace")


async def hostile(port):
    out = {}
    out["garbage"] = await raw(port, b"GET / HTTP/1.1\r\nHost: zoe\r\n\r\n")
    out["huge_data"] = await raw(port, b'{"type":"transcribe","data_length":1073741824}\n')
    out["truncated"] = await raw(port, b'{"type":"audio-chunk","payload_length":4096}\n' + b"\0" * 100)
    out["binary"] = await raw(port, bytes(range(256)) * 8)
    # A client's mistake is answered and the connection goes on.
    bad = AudioStart(rate=16000, width=4, channels=1).event()
    async with AsyncTcpClient(HOST, port) as c:
        await c.write_event(Transcribe().event())
        await c.write_event(bad)
        e = await asyncio.wait_for(c.read_event(), 5)
        out["bad_format"] = e.data.get("text") if Error.is_type(e.type) else e.type
        await c.write_event(Describe().event())
        e = await asyncio.wait_for(c.read_event(), 5)
        out["after_bad_format"] = e.type
    out["describe_after"] = (await describe(port))["asr"]
    return out


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if cmd == "describe":
        r = asyncio.run(describe(port))
    elif cmd == "transcribe":
        r = asyncio.run(transcribe(port, args))
    elif cmd == "speak":
        r = asyncio.run(speak(port, args[0], args[1] if len(args) > 1 else ""))
    elif cmd == "detect":
        r = asyncio.run(detect(port, args[0]))
    elif cmd == "hostile":
        r = asyncio.run(hostile(port))
    else:
        sys.exit(f"unknown command {cmd}")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
