//! espeak-ng in process, through the C API of the system's libespeak-ng (Debian: libespeak-ng-dev).
//!
//! We bind the nine functions we need ourselves instead of using the `espeakng` crate: that crate
//! crashed (SIGSEGV) in `synthesize` against Debian 12's libespeak-ng 1.51 here, and it returns a
//! sentence only when all of it is synthesized. With synchronous output mode and a 40 ms buffer,
//! espeak calls our callback with each 40 ms of audio as it is made, so the first samples of a
//! sentence reach the speaker after a fraction of its synthesis time.
//!
//! libespeak-ng keeps global state (voice, rate, the output callback) and is not thread-safe, so
//! every call into it happens under one process-wide lock, and each [`Espeak`] re-applies its own
//! voice settings under that lock when another instance changed them. The callback runs on the
//! calling thread, inside `espeak_ng_Synthesize` or `espeak_ng_Synchronize`, and reaches the current
//! sentence's `emit` through a thread-local.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CString};
use std::sync::Mutex;

use super::{Tts, TtsError};

const ENOUTPUT_MODE_SYNCHRONOUS: c_int = 1;
/// Returned when our callback asked espeak to stop.
const ENS_SPEECH_STOPPED: c_uint = 0x1000_0EFF;
const ESPEAK_CHARS_UTF8: c_uint = 1;
const POS_CHARACTER: c_int = 1;
const ESPEAK_RATE: c_int = 1;
const ESPEAK_PITCH: c_int = 3;
/// Milliseconds of audio per callback.
const BUFFER_MS: c_int = 40;

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

#[link(name = "espeak-ng")]
extern "C" {
    fn espeak_ng_InitializePath(path: *const c_char);
    fn espeak_ng_Initialize(context: *mut c_void) -> c_uint;
    fn espeak_ng_Terminate() -> c_uint;
    fn espeak_ng_InitializeOutput(
        mode: c_int,
        buffer_length: c_int,
        device: *const c_char,
    ) -> c_uint;
    fn espeak_ng_GetSampleRate() -> c_int;
    fn espeak_SetSynthCallback(cb: SynthCallback);
    fn espeak_ng_SetVoiceByName(name: *const c_char) -> c_uint;
    fn espeak_ng_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_uint;
    fn espeak_ng_Synthesize(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_uint;
    fn espeak_ng_Synchronize() -> c_uint;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

/// `espeak_TextToPhonemes`'s phoneme mode for IPA names.
const IPA: c_int = 0x02;

/// Serialises every use of the library; knows whether it is initialised and what was applied.
static LIBRARY: Mutex<Library> = Mutex::new(Library {
    initialised: false,
    applied: None,
});

struct Library {
    initialised: bool,
    applied: Option<Settings>,
}

/// Ends libespeak-ng at exit: it starts threads of its own at initialisation (its queue and
/// event threads, named after the thread that initialised it), which only its terminate call
/// stops and joins. Safe to call when it was never used; a later use initialises it again.
pub fn terminate() {
    let mut lib = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
    if lib.initialised {
        // SAFETY: initialised under this lock, and no synthesis runs while it is held.
        let status = unsafe { espeak_ng_Terminate() };
        if status != 0 {
            tracing::debug!(status, "espeak-ng terminate reported an error");
        }
        lib.initialised = false;
        lib.applied = None;
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Settings {
    voice: String,
    rate_wpm: i32,
    pitch: i32,
}

type Emit<'a> = &'a mut dyn FnMut(&[f32]) -> bool;
/// `emit` with its lifetime erased, valid only while `synthesize` runs.
type RawEmit = *mut (dyn FnMut(&[f32]) -> bool + 'static);

thread_local! {
    /// The sink of the sentence being synthesized on this thread, and scratch space for conversion.
    static CURRENT: RefCell<Option<(RawEmit, Vec<f32>)>> = const { RefCell::new(None) };
}

unsafe extern "C" fn on_audio(wav: *mut c_short, n: c_int, _events: *mut c_void) -> c_int {
    if wav.is_null() || n <= 0 {
        return 0;
    }
    // SAFETY: espeak hands us `n` valid samples for the duration of this call.
    let samples = unsafe { std::slice::from_raw_parts(wav, n as usize) };
    let keep_going = CURRENT.with(|cur| {
        let mut cur = cur.borrow_mut();
        let Some((emit, scratch)) = cur.as_mut() else {
            return true;
        };
        scratch.clear();
        scratch.extend(samples.iter().map(|&s| s as f32 / 32768.0));
        // SAFETY: the pointer is set by `synthesize` below for exactly the duration of the C calls
        // that invoke this callback, on this thread, and cleared before `synthesize` returns.
        let emit = unsafe { &mut **emit };
        emit(scratch)
    });
    // 1 asks espeak to abort the sentence.
    c_int::from(!keep_going)
}

pub struct Espeak {
    settings: Settings,
    sample_rate: u32,
}

impl Espeak {
    pub fn new(voice: &str, rate_wpm: i32, pitch: i32) -> Result<Self, TtsError> {
        let settings = Settings {
            voice: voice.to_string(),
            rate_wpm,
            pitch,
        };
        let mut lib = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
        initialise(&mut lib)?;
        apply(&mut lib.applied, &settings)?;
        // SAFETY: no arguments; the library is initialised.
        let rate = unsafe { espeak_ng_GetSampleRate() };
        Ok(Espeak {
            settings,
            sample_rate: rate.max(1) as u32,
        })
    }
}

/// Initialises the library once (called with the lock held).
fn initialise(lib: &mut Library) -> Result<(), TtsError> {
    if !lib.initialised {
        // SAFETY: plain C calls with valid (null = default) arguments, made once per process
        // under the lock.
        unsafe {
            espeak_ng_InitializePath(std::ptr::null());
            let status = espeak_ng_Initialize(std::ptr::null_mut());
            if status != 0 {
                return Err(TtsError::EspeakInit(status));
            }
            let status =
                espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, BUFFER_MS, std::ptr::null());
            if status != 0 {
                return Err(TtsError::EspeakInit(status));
            }
            espeak_SetSynthCallback(on_audio);
        }
        lib.initialised = true;
    }
    Ok(())
}

/// The IPA phonemes of `text` in `voice` (a language, e.g. "en-us"), clause by clause, each with
/// the punctuation that ended it ("." when none did): what Piper voices are trained on. One
/// `espeak_TextToPhonemes` call per clause (~0.06 ms a sentence); it consumes the text a clause at
/// a time and reads one character ahead, so each clause's ending is taken from the text it
/// consumed. Shares the library (and its lock) with speech.
pub fn phonemes(voice: &str, text: &str) -> Result<Vec<(String, char)>, TtsError> {
    let mut lib = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
    initialise(&mut lib)?;
    let name = CString::new(voice).map_err(|_| TtsError::EspeakVoice(voice.to_string()))?;
    // SAFETY: a valid C string; the library is initialised and locked.
    if unsafe { espeak_ng_SetVoiceByName(name.as_ptr()) } != 0 {
        lib.applied = None;
        return Err(TtsError::EspeakVoice(voice.to_string()));
    }
    // The next speech call re-applies its own voice.
    lib.applied = None;
    let c = CString::new(text.replace('\0', " ")).expect("NULs removed");
    let start = c.as_ptr();
    let end = c.as_bytes().len();
    let mut ptr: *const c_void = start.cast();
    let mut out = Vec::new();
    while !ptr.is_null() {
        let before = ptr as usize - start as usize;
        // SAFETY: `ptr` points into `c` (NUL-terminated, alive here); espeak advances it past the
        // clause it translated, or sets it to null at the end, and returns its own buffer, copied
        // at once.
        let ph = unsafe { espeak_TextToPhonemes(&mut ptr, ESPEAK_CHARS_UTF8 as c_int, IPA) };
        let after = if ptr.is_null() {
            end
        } else {
            (ptr as usize - start as usize).min(end)
        };
        let phonemes = if ph.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated string owned by espeak, valid until the next call.
            unsafe { std::ffi::CStr::from_ptr(ph) }
                .to_string_lossy()
                .trim()
                .to_string()
        };
        let consumed = String::from_utf8_lossy(&c.as_bytes()[before..after]);
        let ending = clause_ending(&consumed, !ptr.is_null());
        if !phonemes.is_empty() {
            out.push((phonemes, ending));
        }
        if after <= before && !ptr.is_null() {
            break; // no progress: never loop forever
        }
    }
    Ok(out)
}

/// The punctuation that ended a clause, from the text espeak consumed for it (it reads one
/// character past the clause when more follows: that character is not this clause's).
fn clause_ending(consumed: &str, more: bool) -> char {
    let mut chars: Vec<char> = consumed.trim_end().chars().collect();
    if more && !chars.is_empty() && !consumed.ends_with(char::is_whitespace) {
        chars.pop();
    }
    match chars.iter().rev().find(|c| !c.is_whitespace()) {
        Some(&c) if ".,;:!?".contains(c) => c,
        _ => '.',
    }
}

/// Makes `settings` current unless they already are. Called with the lock held.
fn apply(current: &mut Option<Settings>, settings: &Settings) -> Result<(), TtsError> {
    if current.as_ref() == Some(settings) {
        return Ok(());
    }
    let name = CString::new(settings.voice.as_str())
        .map_err(|_| TtsError::EspeakVoice(settings.voice.clone()))?;
    // SAFETY: valid C string; parameters are range-checked by config validation.
    unsafe {
        if espeak_ng_SetVoiceByName(name.as_ptr()) != 0 {
            *current = None;
            return Err(TtsError::EspeakVoice(settings.voice.clone()));
        }
        espeak_ng_SetParameter(ESPEAK_RATE, settings.rate_wpm, 0);
        espeak_ng_SetParameter(ESPEAK_PITCH, settings.pitch, 0);
    }
    *current = Some(settings.clone());
    Ok(())
}

impl Tts for Espeak {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn synthesize(&mut self, text: &str, emit: Emit<'_>) -> Result<(), TtsError> {
        let mut lib = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
        apply(&mut lib.applied, &self.settings)?;
        let text = CString::new(text.replace('\0', " ")).expect("NULs removed");
        let bytes = text.as_bytes_with_nul();
        // Erase the lifetime for the thread-local; it is cleared below before `emit` goes away.
        let ptr: *mut (dyn FnMut(&[f32]) -> bool + '_) = emit;
        // SAFETY: only the lifetime changes; see the invariant in `on_audio`.
        let ptr: RawEmit = unsafe { std::mem::transmute(ptr) };
        CURRENT.with(|c| *c.borrow_mut() = Some((ptr, Vec::with_capacity(2048))));
        // SAFETY: `bytes` is a valid NUL-terminated UTF-8 buffer that outlives both calls.
        let status = unsafe {
            let s = espeak_ng_Synthesize(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                POS_CHARACTER,
                0,
                ESPEAK_CHARS_UTF8,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            if s == 0 {
                espeak_ng_Synchronize()
            } else {
                s
            }
        };
        CURRENT.with(|c| *c.borrow_mut() = None);
        // An abort requested by `emit` is not a failure.
        if status != 0 && status != ENS_SPEECH_STOPPED {
            return Err(TtsError::EspeakSynth(status));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real espeak-ng produces audible audio in several streamed pieces, and stops when asked.
    #[test]
    fn synthesizes_streamed_pieces_and_aborts() {
        let mut tts = Espeak::new("en-us", 175, 50).unwrap();
        assert_eq!(tts.sample_rate(), 22050);
        let mut pieces = 0;
        let mut samples = Vec::new();
        tts.synthesize("Hello, I am Zoe. How can I help you today?", &mut |s| {
            pieces += 1;
            samples.extend_from_slice(s);
            true
        })
        .unwrap();
        assert!(pieces > 5, "{pieces} pieces");
        let secs = samples.len() as f32 / 22050.0;
        assert!((1.0..6.0).contains(&secs), "{secs} s");
        let rms = (samples.iter().map(|x| x * x).sum::<f32>() / samples.len() as f32).sqrt();
        assert!(rms > 0.02, "rms {rms}");

        let mut got = 0;
        tts.synthesize(
            "This sentence is long and will be stopped after the first piece.",
            &mut |s| {
                got += s.len();
                false
            },
        )
        .unwrap();
        assert!(
            got > 0 && (got as f32) < 0.2 * 22050.0,
            "{got} samples after abort"
        );
    }

    /// Phonemes come back clause by clause in IPA, each with the punctuation that ended it.
    #[test]
    fn phonemes_by_clause_with_their_endings() {
        let p = phonemes("en-us", "Hello there, how are you? Fine.").unwrap();
        let endings: Vec<char> = p.iter().map(|(_, e)| *e).collect();
        assert_eq!(endings, [',', '?', '.'], "{p:?}");
        assert!(p[0].0.contains('h') && p[0].0.contains('ð'), "{p:?}");
        assert_eq!(clause_ending("no stop", false), '.');
        assert_eq!(clause_ending("Really! N", true), '!');
    }
}
