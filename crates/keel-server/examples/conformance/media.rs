//! Small, valid media for the image and audio fixtures, Base64-encoded as MCP carries them.

use base64::{Engine as _, engine::general_purpose::STANDARD};

/// A 4×4 RGB PNG (checkerboard of four colours), 84 bytes.
pub(crate) const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAG0lEQVR42mNgaGD438AAJRka/v9v+A8lccoAAC7yF/HYw75kAAAAAElFTkSuQmCC";

/// MIME type of [`PNG_BASE64`].
pub(crate) const PNG_MIME: &str = "image/png";

/// MIME type of [`wav_base64`]; the suites require exactly this spelling.
pub(crate) const WAV_MIME: &str = "audio/wav";

const SAMPLE_RATE: u32 = 8_000;
const TONE_HZ: f64 = 440.0;
const SAMPLES: u32 = SAMPLE_RATE / 10;

/// A RIFF/WAVE file: 0.1 s of a 440 Hz tone, 8 kHz, mono, unsigned 8-bit PCM.
pub(crate) fn wav_base64() -> String {
    let mut wav = Vec::with_capacity(44 + SAMPLES as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + SAMPLES).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    wav.extend_from_slice(&SAMPLE_RATE.to_le_bytes()); // byte rate: 1 byte per frame
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&SAMPLES.to_le_bytes());
    for n in 0..SAMPLES {
        let t = f64::from(n) / f64::from(SAMPLE_RATE);
        let s = (std::f64::consts::TAU * TONE_HZ * t).sin();
        // 8-bit PCM is unsigned around 128; the amplitude stays well inside 0..=255.
        wav.push((128.0 + 100.0 * s).round() as u8);
    }
    STANDARD.encode(wav)
}
