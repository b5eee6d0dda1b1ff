//! A connection's socket as hyper sees it. Reads tell the connection's activity that bytes
//! arrived. Writes pass through, except one: when hyper cannot parse a request's head (a
//! malformed request line or header, more than 100 headers, a head over its buffer), it
//! answers by itself with a bare status line and closes. That answer is the only thing hyper
//! writes while no answer of ours is under way, so the socket recognises it there and sends
//! in its place the same status with the error envelope, an `x-request-id` and
//! `Connection: close`.

use axum::http::StatusCode;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Activity;
use crate::http::error::{ErrorBody, ErrorDetail};
use crate::http::middleware;

/// What becomes of the bytes hyper writes.
enum Out {
    /// They go to the client.
    Pass,
    /// Hyper's own refusal is being replaced by `answer`, `sent` bytes of it sent so far.
    Replacing { answer: Vec<u8>, sent: usize },
    /// The replacement is sent; whatever else hyper writes of its refusal is dropped.
    Replaced,
}

/// The socket, telling the connection's activity when bytes arrive.
pub(super) struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    out: Out,
}

impl Watched {
    /// `stream`, reporting to `activity`.
    pub(super) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            activity,
            out: Out::Pass,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if matches!(this.out, Out::Pass)
            && this.activity.quiet()
            && let Some(status) = refused_status(buf)
        {
            this.out = Out::Replacing {
                answer: refusal(status),
                sent: 0,
            };
        }
        match &mut this.out {
            Out::Pass => Pin::new(&mut this.stream).poll_write(cx, buf),
            Out::Replacing { answer, sent } => {
                while *sent < answer.len() {
                    let n = ready!(Pin::new(&mut this.stream).poll_write(cx, &answer[*sent..]))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    *sent += n;
                }
                this.out = Out::Replaced;
                Poll::Ready(Ok(buf.len()))
            }
            Out::Replaced => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
        // Hyper flushes after writing out everything it buffered: an answer that ended
        // before this point is wholly sent.
        self.activity.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !matches!(self.out, Out::Pass) || self.activity.quiet() {
            // One slice at a time, so a refusal's head is seen whole (hyper writes it as one).
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The status of hyper's own refusal, when `head` is the start of one (`HTTP/1.1 431 ...`).
fn refused_status(head: &[u8]) -> Option<StatusCode> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let status = StatusCode::from_bytes(rest.get(..3)?).ok()?;
    (status.is_client_error() || status.is_server_error()).then_some(status)
}

/// The answer sent instead of hyper's refusal with `status`: the envelope, a new request id
/// (the request's own could not be read) and `Connection: close`.
fn refusal(status: StatusCode) -> Vec<u8> {
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request line or a header is malformed"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "request_header_fields_too_large",
            "the request has more than 100 headers or a head over the size limit",
        ),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "the request target is too long"),
        _ => ("bad_request", "the request could not be parsed"),
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    })
    .unwrap_or_default();
    let id = middleware::new_request_id();
    let id = id.to_str().unwrap_or("-");
    tracing::info!(
        request_id = %id,
        status = status.as_u16(),
        "request refused: its head could not be parsed"
    );
    crate::telemetry::metrics::http_request("", "unmatched", status.as_u16(), Duration::ZERO);
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         {}: {id}\r\nconnection: close\r\ndate: {}\r\n\r\n",
        body.len(),
        middleware::REQUEST_ID,
        httpdate::fmt_http_date(SystemTime::now()),
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_status_lines_are_refusals() {
        assert_eq!(
            refused_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            refused_status(b"HTTP/1.1 400 Bad Request\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(refused_status(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(refused_status(b"{\"a\":1}"), None);
        assert_eq!(refused_status(b"HTTP/1.1 4"), None);
    }

    #[test]
    fn a_refusal_is_an_envelope_with_an_id() {
        let answer = String::from_utf8(refusal(StatusCode::BAD_REQUEST)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nx-request-id: "), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "bad_request");
    }
}
