//! Arbitrary text frames into a Twilio session, before and after a valid start: never panics.
#![no_main]

use callwatch::sources::fork::ForkSession;
use callwatch::sources::twilio::TwilioSession;
use libfuzzer_sys::fuzz_target;

const START: &str = r#"{"event":"start","start":{"callSid":"CA1","streamSid":"MZ1","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Frames are separated by newlines so one input can drive a whole conversation.
    let mut cold = TwilioSession::new();
    let mut warm = TwilioSession::new();
    warm.on_text(START).expect("valid start");
    for frame in text.split('\n') {
        let _ = cold.on_text(frame);
        let _ = warm.on_text(frame);
    }
    let _ = cold.on_binary(data);
    let _ = cold.on_close();
    let _ = warm.on_close();
});
