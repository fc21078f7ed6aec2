//! What an SDP offer asks for, read before it is handed to the WebRTC stack, so a refusal can
//! say precisely what was missing (str0m would answer an offer without Opus with a rejected
//! audio section, which a publisher only notices as silence).

use super::WhipError;

/// The media sections of an offer that matter to callwatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferSummary {
    /// Payload type the publisher chose for Opus in its first sending audio section.
    pub opus_pt: u8,
    /// Audio sections with a non-zero port that send media.
    pub audio_sections: usize,
    /// Video sections (accepted, media ignored).
    pub video_sections: usize,
}

/// Checks that `sdp` is an offer with a sending audio section carrying Opus.
pub fn summarize(sdp: &str) -> Result<OfferSummary, WhipError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(WhipError::MalformedSdp(
            "an SDP description starts with `v=0`".into(),
        ));
    }
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            sections.push(vec![line]);
        } else if let Some(s) = sections.last_mut() {
            s.push(line);
        }
    }
    let session_dir = sdp
        .lines()
        .take_while(|l| !l.starts_with("m="))
        .find_map(direction);
    let mut audio = 0;
    let mut video = 0;
    let mut opus_pt = None;
    let mut offered = Vec::new();
    for s in &sections {
        let mut words = s[0][2..].split_whitespace();
        let kind = words.next().unwrap_or_default();
        let port: u32 = words
            .next()
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| WhipError::MalformedSdp(format!("bad media line `{}`", s[0])))?;
        if kind == "video" {
            video += 1;
            continue;
        }
        if kind != "audio" || port == 0 {
            continue;
        }
        let dir = s[1..].iter().find_map(|l| direction(l)).or(session_dir);
        if matches!(dir, Some("recvonly" | "inactive")) {
            continue;
        }
        audio += 1;
        for l in &s[1..] {
            let Some(map) = l.strip_prefix("a=rtpmap:") else {
                continue;
            };
            let mut it = map.split_whitespace();
            let (Some(pt), Some(enc)) = (it.next(), it.next()) else {
                continue;
            };
            let name = enc.split('/').next().unwrap_or_default();
            offered.push(name.to_string());
            if name.eq_ignore_ascii_case("opus") && opus_pt.is_none() {
                opus_pt = pt.parse::<u8>().ok().filter(|p| *p < 128);
            }
        }
    }
    if audio == 0 {
        return Err(WhipError::NoAudio);
    }
    let Some(opus_pt) = opus_pt else {
        offered.dedup();
        return Err(WhipError::NoOpus {
            offered: if offered.is_empty() {
                "nothing".into()
            } else {
                offered.join(", ")
            },
        });
    };
    Ok(OfferSummary {
        opus_pt,
        audio_sections: audio,
        video_sections: video,
    })
}

fn direction(line: &str) -> Option<&'static str> {
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| line.strip_prefix("a=") == Some(*d))
}
