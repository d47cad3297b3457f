//! Real audio devices: a private PulseAudio server with a null-sink speaker, reached through ALSA
//! as a person's sound card would be.

use crate::support::pulse::Pulse;
use crate::support::*;

/// A reply plays through rodio → ALSA → PulseAudio: the speaker's monitor records it, and the
/// metrics' first-audio time is set when the device pulled the reply's first sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_play_on_a_real_sound_server() {
    let Some(pulse) = Pulse::start() else { return };
    let s = standin(Timing::brisk()).await;
    let reply = "Hello! This reply is played through a real sound server.";
    s.push(Script::reply(reply));
    let recording = pulse.path().join("speaker.raw");
    let mut parec = pulse.record_speaker(&recording);
    let mut zoe = Zoe::chat_on(&pulse, &s.url(), &[]);
    zoe.send("hello");
    assert_eq!(zoe.reply(), reply);
    // End of input: Zoe lets the reply finish playing, then exits.
    zoe.finish();
    let _ = parec.kill();
    let _ = parec.wait();
    assert!(
        !zoe.stderr_text().contains("no audio output device"),
        "{}",
        zoe.stderr_text()
    );
    let bytes = std::fs::read(&recording).unwrap();
    let samples: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let loud = samples.chunks(160).filter(|c| rms(c) > 0.01).count(); // 10 ms windows with speech
    assert!(
        loud > 150,
        "{loud} loud 10 ms windows of {} recorded",
        samples.len() / 160
    );
    let m = &zoe.metrics()[0];
    let (first_audio, first_sentence) = (
        m.first_audio_ms.expect("the device played the reply"),
        m.first_sentence_ms.unwrap(),
    );
    assert!(first_audio >= first_sentence, "{m:?}");
}
