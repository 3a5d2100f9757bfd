//! Hostile answers: the bodies a broken proxy or a captive portal in front of the
//! service could send ([`HostileBody`]), as an axum layer outside every other (so that
//! neither the faults nor the gzip of answers ever buffers them), and the body itself,
//! made as it is sent a chunk at a time and never held whole. The kiosk must read none
//! of them past its bound; the simulator must stay small while sending them.

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body::{Frame, SizeHint};

use super::{CentralSim, HostileBody};

/// Filler made and sent at a time.
const CHUNK: usize = 64 * 1024;

/// Answers with the hostile body when one is set for this path; else the service's own
/// answer.
pub(super) async fn hostile_answers(
    State(sim): State<CentralSim>,
    req: Request,
    next: Next,
) -> Response {
    let Some(body) = sim.hostile_body(req.uri().path()) else {
        return next.run(req).await;
    };
    tracing::debug!(
        path = req.uri().path(),
        ?body,
        "central simulator sends a hostile body"
    );
    let json = HeaderValue::from_static("application/json");
    let mut answer = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, json)],
        Body::new(Made::new(body)),
    )
        .into_response();
    if let HostileBody::GzipBomb { .. } = body {
        answer
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    answer
}

/// A body of spaces made as it goes: `left` bytes still to make, gzip-compressed on the
/// way when `gzip` is set.
struct Made {
    left: u64,
    /// The exact length to declare (`Content-Length`); `None`: sent chunked.
    declared: Option<u64>,
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl Made {
    fn new(body: HostileBody) -> Made {
        match body {
            HostileBody::Sized { bytes } => Made {
                left: bytes,
                declared: Some(bytes),
                gzip: None,
            },
            HostileBody::Chunked { bytes } => Made {
                left: bytes,
                declared: None,
                gzip: None,
            },
            HostileBody::GzipBomb { decoded } => Made {
                left: decoded,
                declared: None,
                gzip: Some(GzEncoder::new(Vec::new(), Compression::best())),
            },
        }
    }

    /// The next chunk to send; `None` at the end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        static SPACES: [u8; CHUNK] = [b' '; CHUNK];
        let Some(encoder) = &mut self.gzip else {
            if self.left == 0 {
                return None;
            }
            let n = self.left.min(CHUNK as u64) as usize;
            self.left -= n as u64;
            return Some(Bytes::from_static(&SPACES[..n]));
        };
        // Compressed, 64 KiB of spaces come to a few bytes: feed the encoder until it
        // has a chunk's worth to send, or the end.
        while self.left > 0 && encoder.get_ref().len() < CHUNK / 16 {
            let n = self.left.min(CHUNK as u64) as usize;
            self.left -= n as u64;
            encoder.write_all(&SPACES[..n]).ok()?;
        }
        if self.left == 0 {
            let encoder = self.gzip.take()?;
            return encoder.finish().ok().map(Bytes::from);
        }
        Some(Bytes::from(std::mem::take(encoder.get_mut())))
    }
}

impl HttpBody for Made {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().next_chunk().map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk of `body`, counted and (for the bomb) decoded as they come.
    fn drain(body: HostileBody) -> (u64, u64, usize) {
        let mut made = Made::new(body);
        let (mut wire, mut largest) = (0u64, 0usize);
        let bomb = matches!(body, HostileBody::GzipBomb { .. });
        let mut decoder = flate2::write::GzDecoder::new(Counter(0));
        while let Some(chunk) = made.next_chunk() {
            wire += chunk.len() as u64;
            largest = largest.max(chunk.len());
            if bomb {
                decoder.write_all(&chunk).expect("gzip decodes");
            }
        }
        let decoded = if bomb {
            decoder.finish().expect("gzip ends").0
        } else {
            wire
        };
        (wire, decoded, largest)
    }

    struct Counter(u64);

    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bodies_are_as_long_as_said_and_made_in_small_chunks() {
        let (wire, _, largest) = drain(HostileBody::Sized { bytes: 200_001 });
        assert_eq!((wire, largest), (200_001, CHUNK));
        let (wire, _, _) = drain(HostileBody::Chunked { bytes: 3 });
        assert_eq!(wire, 3);
        let (wire, decoded, largest) = drain(HostileBody::GzipBomb { decoded: 64 << 20 });
        assert_eq!(decoded, 64 << 20);
        assert!(wire < (64 << 20) / 500, "{wire} bytes on the wire");
        assert!(largest <= CHUNK, "{largest}");
    }
}
