//! The incremental frame decoder under arbitrary line bytes pushed in arbitrary chunks.
//!
//! Input: one plan byte, then the line. The plan's low 7 bits set the chunk sizes
//! (0: the whole line in one push; n: sizes cycling n, 1, 3n, n/2), its high bit makes
//! the line "go quiet" after every chunk that leaves a partial frame, as the serial layer
//! does after 100 ms without bytes (`Decoder::resync`).
//!
//! Checked: no panic; after every drained push the decoder holds less than one frame
//! pending and at most one frame plus the push in memory; every byte pushed ends up in a
//! frame, dropped, or pending; every frame decoded has a legal payload and re-encodes to
//! bytes that decode to the same frame; and, without quiet-line resyncs, the frames do not
//! depend on how the line was chunked.

#![no_main]

use apm_kiosk_fuzz::reader::{Decoder, FRAME_OVERHEAD, Frame, MAX_FRAME, MAX_PAYLOAD, encode};
use libfuzzer_sys::fuzz_target;

fn drain(decoder: &mut Decoder, frames: &mut Vec<Frame>) {
    while let Some(frame) = decoder.next_frame() {
        frames.push(frame);
    }
}

fn round_trips(frame: &Frame) {
    assert!(frame.payload.len() <= MAX_PAYLOAD, "payload over the limit");
    let bytes = encode(frame);
    assert_eq!(bytes.len(), frame.payload.len() + 2 + FRAME_OVERHEAD);
    let mut again = Decoder::new();
    again.push(&bytes);
    assert_eq!(
        again.next_frame().as_ref(),
        Some(frame),
        "re-encoded frame decodes the same"
    );
    assert_eq!(again.next_frame(), None);
    assert_eq!(again.pending(), 0);
    assert_eq!(again.stats().dropped_bytes, 0);
}

fn chunk_size(base: usize, i: usize, left: usize) -> usize {
    let size = match (base, i % 4) {
        (0, _) => left,
        (_, 0) => base,
        (_, 1) => 1,
        (_, 2) => base * 3,
        _ => base / 2,
    };
    size.clamp(1, left)
}

fuzz_target!(|data: &[u8]| {
    let Some((&plan, line)) = data.split_first() else {
        return;
    };
    let quiet = plan & 0x80 != 0;
    let base = usize::from(plan & 0x7f);

    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    let mut rest = line;
    let mut i = 0;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_size(base, i, rest.len()));
        rest = tail;
        i += 1;
        decoder.push(chunk);
        drain(&mut decoder, &mut frames);
        if quiet && decoder.pending() > 0 {
            decoder.resync();
            drain(&mut decoder, &mut frames);
        }
        assert!(
            decoder.pending() < MAX_FRAME,
            "pending {}",
            decoder.pending()
        );
        assert!(
            decoder.buffered() <= MAX_FRAME + chunk.len(),
            "buffer {} after a push of {}",
            decoder.buffered(),
            chunk.len()
        );
    }

    let stats = decoder.stats();
    assert_eq!(stats.frames, frames.len() as u64);
    let framed: usize = frames
        .iter()
        .map(|f| f.payload.len() + 2 + FRAME_OVERHEAD)
        .sum();
    assert_eq!(
        framed as u64 + stats.dropped_bytes + decoder.pending() as u64,
        line.len() as u64,
        "every byte is framed, dropped or pending"
    );
    for frame in &frames {
        round_trips(frame);
    }

    if !quiet {
        // A drained decoder never reaches its cap, so one push of the whole line (below
        // the cap) and any chunking must agree.
        let mut whole = Decoder::new();
        whole.push(line);
        let mut once = Vec::new();
        drain(&mut whole, &mut once);
        if line.len() <= apm_kiosk_fuzz::reader::DECODER_CAP {
            assert_eq!(once, frames, "chunking changed the frames");
            assert_eq!(whole.pending(), decoder.pending());
            assert_eq!(whole.stats(), stats);
        }
    }
});
