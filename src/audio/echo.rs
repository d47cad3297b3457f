//! Speex's acoustic echo canceller (MDF) and residual echo suppressor, over 16 kHz frames: the
//! filter only. Which reference sample goes with which microphone frame is `hearing::echo`'s job.
//! Runs on the audio worker; no threads, no I/O.

/// Speex's echo canceller (MDF, an adaptive frequency-domain filter), over 16 kHz frames.
pub struct Canceller {
    state: *mut aec_rs_sys::SpeexEchoState,
    /// The residual echo suppressor (null if Speex could not make one: linear cancelling only).
    pre: *mut aec_rs_sys::SpeexPreprocessState,
    pub frame: usize,
    rec: Vec<i16>,
    play: Vec<i16>,
    out: Vec<i16>,
}

// SAFETY: the Speex states are plain heap memory owned by this value, used from one thread at a time
// (`&mut self`) and freed once in `Drop`; nothing in it is tied to the thread that made it.
unsafe impl Send for Canceller {}

impl Canceller {
    /// A canceller for `frame`-sample frames and echoes up to `tail` samples long; `suppress`
    /// adds the residual echo suppressor.
    pub fn new(frame: usize, tail: usize, suppress: bool) -> Option<Canceller> {
        // SAFETY: plain constructor; a null result is checked.
        let state = unsafe { aec_rs_sys::speex_echo_state_init(frame as i32, tail as i32) };
        if state.is_null() {
            return None;
        }
        let mut rate: i32 = 16_000;
        // SAFETY: `state` is valid; SET_SAMPLING_RATE reads one i32.
        unsafe {
            aec_rs_sys::speex_echo_ctl(
                state,
                aec_rs_sys::SPEEX_ECHO_SET_SAMPLING_RATE as i32,
                (&mut rate as *mut i32).cast(),
            );
        }
        // The residual echo suppressor: what the linear filter leaves is estimated per frequency
        // band and attenuated (through the test's room the filter alone removed 8–9 dB of her
        // voice, both together 15–19 dB). It needs the noise suppressor on; like the filter, it
        // only runs while she plays.
        // SAFETY: plain constructor; a null result is checked and then not used.
        let pre = if suppress {
            unsafe { aec_rs_sys::speex_preprocess_state_init(frame as i32, 16_000) }
        } else {
            std::ptr::null_mut()
        };
        if !pre.is_null() {
            let mut on: i32 = 1;
            // SAFETY: both states are valid; SET_ECHO_STATE takes the echo state, SET_DENOISE
            // reads one i32.
            unsafe {
                aec_rs_sys::speex_preprocess_ctl(
                    pre,
                    aec_rs_sys::SPEEX_PREPROCESS_SET_ECHO_STATE as i32,
                    state.cast(),
                );
                aec_rs_sys::speex_preprocess_ctl(
                    pre,
                    aec_rs_sys::SPEEX_PREPROCESS_SET_DENOISE as i32,
                    (&mut on as *mut i32).cast(),
                );
            }
        }
        Some(Canceller {
            state,
            pre,
            frame,
            rec: vec![0; frame],
            play: vec![0; frame],
            out: vec![0; frame],
        })
    }

    /// Removes the echo of `played` from `heard` (both `frame` samples in [-1, 1]) into `out`.
    pub fn cancel(&mut self, heard: &[f32], played: &[f32], out: &mut Vec<f32>) {
        let to_i16 = |x: f32| (x * 32767.0).clamp(-32768.0, 32767.0) as i16;
        for (d, &s) in self.rec.iter_mut().zip(heard) {
            *d = to_i16(s);
        }
        for (d, &s) in self.play.iter_mut().zip(played) {
            *d = to_i16(s);
        }
        // SAFETY: `state` (and `pre` when not null) is valid and all three buffers hold exactly
        // `frame` samples, the size the states were made for.
        unsafe {
            aec_rs_sys::speex_echo_cancellation(
                self.state,
                self.rec.as_ptr(),
                self.play.as_ptr(),
                self.out.as_mut_ptr(),
            );
            if !self.pre.is_null() {
                aec_rs_sys::speex_preprocess_run(self.pre, self.out.as_mut_ptr());
            }
        }
        out.clear();
        out.extend(self.out.iter().map(|&s| s as f32 / 32768.0));
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        // SAFETY: made by `speex_echo_state_init` and `speex_preprocess_state_init`, freed once
        // (the suppressor first: it points at the echo state).
        unsafe {
            if !self.pre.is_null() {
                aec_rs_sys::speex_preprocess_state_destroy(self.pre);
            }
            aec_rs_sys::speex_echo_state_destroy(self.state)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like noise bursts (the canceller needs no real voice to show it converges).
    fn bursts(n: usize) -> Vec<f32> {
        let mut x = 987_654_321u32;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let on = (i / 4000) % 3 != 2;
                if on {
                    (x as f32 / u32::MAX as f32 - 0.5) * 0.3
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Echo removed (dB) after the first two seconds, by a canceller with or without the
    /// suppressor, for an echo 40 ms late at half the level passed through `room`.
    fn removed_db(suppress: bool, room: impl Fn(f32) -> f32) -> f64 {
        let played = bursts(16_000 * 6);
        let delay = 640;
        let heard: Vec<f32> = (0..played.len())
            .map(|i| {
                if i >= delay {
                    room(played[i - delay] * 0.5)
                } else {
                    0.0
                }
            })
            .collect();
        let mut c = Canceller::new(256, 4096, suppress).expect("speex");
        let (mut before, mut after) = (0.0f64, 0.0f64);
        let mut out = Vec::new();
        for (k, (h, p)) in heard
            .chunks_exact(256)
            .zip(played.chunks_exact(256))
            .enumerate()
        {
            c.cancel(h, p, &mut out);
            if k * 256 >= 32_000 {
                before += h.iter().map(|x| (x * x) as f64).sum::<f64>();
                after += out.iter().map(|x| (x * x) as f64).sum::<f64>();
            }
        }
        10.0 * (before / after.max(1e-12)).log10()
    }

    /// A linear echo is removed by at least 15 dB once the filter has converged.
    #[test]
    fn canceller_removes_a_delayed_echo() {
        let erle = removed_db(false, |x| x);
        assert!(erle >= 15.0, "echo reduced by only {erle:.1} dB");
    }

    /// A loudspeaker that distorts (soft clipping) leaves an echo no linear filter can model;
    /// the residual echo suppressor takes at least 6 dB more of it away.
    #[test]
    fn suppressor_removes_what_the_filter_leaves() {
        let room = |x: f32| (4.0 * x).tanh() / 4.0;
        let (linear, both) = (removed_db(false, room), removed_db(true, room));
        assert!(
            both >= linear + 6.0,
            "linear {linear:.1} dB, with the suppressor {both:.1} dB"
        );
    }
}
