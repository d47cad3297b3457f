"""A room's microphone for wyoming-satellite's `--mic-command`: raw 16 kHz 16-bit mono on stdout at
real time. `satellite_mic.py GO CLIP.wav...`: quiet until the file GO exists (the test makes it
once Zoe is connected), then a second of quiet, each clip followed by ten seconds of quiet (time for Zoe's answer), then
quiet until the satellite stops it. The clips must be 16 kHz mono 16-bit."""

import os

import sys
import time
import wave

RATE = 16000
CHUNK = 1024  # samples, as the satellite reads them


def pcm(path):
    with wave.open(path, "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), path
        return w.readframes(w.getnframes())


def main():
    quiet = lambda s: bytes(2 * int(RATE * s))
    go, clips = sys.argv[1], sys.argv[2:]
    audio = quiet(1.0) + b"".join(pcm(p) + quiet(10.0) for p in clips)
    out = sys.stdout.buffer
    start = time.monotonic()
    sent = 0
    began = None  # where the clips began, once GO exists
    while True:
        if began is None and os.path.exists(go):
            began = sent
        at = 0 if began is None else sent - began
        chunk = audio[2 * at : 2 * (at + CHUNK)] if began is not None else b""
        chunk += bytes(2 * CHUNK - len(chunk))
        out.write(chunk)
        out.flush()
        sent += CHUNK
        due = start + sent / RATE
        time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
