// Times whisper.cpp (the copy whisper-rs-sys 0.15.0 vendors, as Zoe links it) on WAV files with
// Zoe's decoding settings: greedy, English, one segment, no context, no timestamps, audio_ctx
// scaled to the clip (max(384, (secs + 0.5) * 50)), max tokens secs * 6 + 8.
// usage: whisper_time MODEL GPU(0|1) THREADS RUNS FILE.wav...
#include "whisper.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// 16-bit PCM mono 16 kHz WAV only (the test clips are converted to that before).
static float *read_wav(const char *path, int *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(size);
  if (fread(b, 1, size, f) != (size_t)size) { fclose(f); free(b); return NULL; }
  fclose(f);
  long p = 12;
  while (p + 8 <= size) {
    uint32_t len = b[p + 4] | b[p + 5] << 8 | b[p + 6] << 16 | (uint32_t)b[p + 7] << 24;
    if (!memcmp(b + p, "data", 4)) {
      *n = len / 2;
      float *out = malloc(sizeof(float) * *n);
      for (int i = 0; i < *n; i++) out[i] = (int16_t)(b[p + 8 + 2 * i] | b[p + 9 + 2 * i] << 8) / 32768.0f;
      free(b);
      return out;
    }
    p += 8 + len + (len & 1);
  }
  free(b);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: %s MODEL GPU THREADS RUNS FILE...\n", argv[0]); return 2; }
  struct whisper_context_params cp = whisper_context_default_params();
  cp.use_gpu = atoi(argv[2]);
  int threads = atoi(argv[3]), runs = atoi(argv[4]);
  double t0 = now_ms();
  struct whisper_context *ctx = whisper_init_from_file_with_params(argv[1], cp);
  if (!ctx) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
  printf("model %s gpu %d flash_attn %d threads %d: loaded in %.0f ms\n", argv[1], cp.use_gpu, cp.flash_attn, threads, now_ms() - t0);
  double all[4096];
  int n_all = 0;
  for (int a = 5; a < argc; a++) {
    int n = 0;
    float *pcm = read_wav(argv[a], &n);
    if (!pcm) { printf("%s: unreadable\n", argv[a]); continue; }
    double secs = n / 16000.0;
    struct whisper_full_params p = whisper_full_default_params(WHISPER_SAMPLING_GREEDY);
    p.language = "en";
    p.n_threads = threads;
    p.no_timestamps = true;
    p.single_segment = true;
    p.no_context = true;
    p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = false;
    p.suppress_blank = true;
    p.temperature = 0.0f;
    p.temperature_inc = 0.0f;
    p.max_tokens = (int)ceil(secs * 6.0) + 8;
    int ctxn = (int)ceil((secs + 0.5) * 50.0);
    p.audio_ctx = ctxn < 384 ? 384 : ctxn > 1500 ? 1500 : ctxn;
    double t[64];
    int r = runs < 64 ? runs : 64;
    whisper_full(ctx, p, pcm, n); // warm-up
    for (int i = 0; i < r; i++) {
      double s = now_ms();
      whisper_full(ctx, p, pcm, n);
      t[i] = now_ms() - s;
      if (n_all < 4096) all[n_all++] = t[i];
    }
    qsort(t, r, sizeof(double), cmp);
    const char *text = whisper_full_n_segments(ctx) > 0 ? whisper_full_get_segment_text(ctx, 0) : "";
    const char *name = strrchr(argv[a], '/');
    printf("%-70s %5.2f s  ctx %4d  p50 %7.1f ms  min %7.1f  max %7.1f |%s\n", name ? name + 1 : argv[a], secs, p.audio_ctx, t[r / 2], t[0], t[r - 1], text);
    free(pcm);
  }
  qsort(all, n_all, sizeof(double), cmp);
  if (n_all) printf("all runs: n %d  p50 %.1f ms  p95 %.1f ms\n", n_all, all[n_all / 2], all[(int)(n_all * 0.95)]);
  whisper_free(ctx);
  return 0;
}
