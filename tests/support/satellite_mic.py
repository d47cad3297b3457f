"""A room's microphone for wyoming-satellite's `--mic-command`: raw 16 kHz 16-bit mono on stdout at
real time. `satellite_mic.py GO CLIP.wav...`: quiet, and each clip played once GO holds one byte
more than the clips already begun (the test appends one when Zoe is connected, then one when it
has Zoe's answer to the clip before, as a person waits for the answer before asking again),
after a second of quiet (the first) or three (the others: Zoe's reply, sent, is still playing in
the room for about two), then quiet until the satellite stops it. The clips must be 16 kHz mono
16-bit."""

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


def asked(go):
    """How many clips the test has asked for."""
    try:
        return os.path.getsize(go)
    except OSError:
        return 0


def main():
    quiet = lambda s: bytes(2 * int(RATE * s))
    go, clips = sys.argv[1], sys.argv[2:]
    out = sys.stdout.buffer
    start = time.monotonic()
    sent = 0
    begun = 0  # clips begun
    queue = b""  # what is left to play
    while True:
        if not queue and begun < len(clips) and asked(go) > begun:
            queue = quiet(1.0 if begun == 0 else 3.0) + pcm(clips[begun])
            begun += 1
        chunk, queue = queue[: 2 * CHUNK], queue[2 * CHUNK :]
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
