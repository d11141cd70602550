//! The response body hyper writes: a complete buffer (the fast path), or the
//! stream of chunks/files a Python thread sends over the reply channel, or a
//! file from the static handler. Dropping it marks the end of the response
//! (access log line, keep-alive idle clock).
use crate::http::access_log::AccessRecord;
use crate::http::Phase;
use crate::request::Reply;
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc::Receiver;

const FILE_CHUNK: usize = 64 * 1024;

enum Source {
    Full(Option<Bytes>),
    Channel(Receiver<Reply>),
}

struct FileStream {
    file: tokio::fs::File,
    left: Option<u64>,
}

pub struct ResponseBody {
    source: Source,
    file: Option<FileStream>,
    /// Written when the body is dropped (after hyper sent it, or gave up).
    log: Option<Box<AccessRecord>>,
    sent: u64,
    /// The connection's phase: idle (keep-alive clock) once this is dropped.
    phase: Option<Arc<Phase>>,
    /// The app failed mid-body: after one more poll (so hyper flushes what
    /// was already sent) the body errors and hyper drops the connection.
    aborting: bool,
}

impl ResponseBody {
    pub fn full(bytes: Bytes) -> ResponseBody {
        Self::new(Source::Full(Some(bytes)), None)
    }

    pub fn empty() -> ResponseBody {
        Self::new(Source::Full(None), None)
    }

    pub fn channel(rx: Receiver<Reply>) -> ResponseBody {
        Self::new(Source::Channel(rx), None)
    }

    pub fn file(file: std::fs::File, len: u64) -> ResponseBody {
        let stream = FileStream {
            file: tokio::fs::File::from_std(file),
            left: Some(len),
        };
        Self::new(Source::Full(None), Some(stream))
    }

    fn new(source: Source, file: Option<FileStream>) -> ResponseBody {
        ResponseBody {
            source,
            file,
            log: None,
            sent: 0,
            phase: None,
            aborting: false,
        }
    }

    pub fn with_log(mut self, log: Option<Box<AccessRecord>>) -> Self {
        self.log = log;
        self
    }

    pub fn with_phase(mut self, phase: Arc<Phase>) -> Self {
        self.phase = Some(phase);
        self
    }

    fn poll_file(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let Some(stream) = self.file.as_mut() else {
            return Poll::Ready(None);
        };
        let want = stream
            .left
            .map(|l| l.min(FILE_CHUNK as u64) as usize)
            .unwrap_or(FILE_CHUNK);
        if want == 0 {
            self.file = None;
            return Poll::Ready(None);
        }
        let mut buf = BytesMut::zeroed(want);
        let mut read_buf = ReadBuf::new(&mut buf);
        match Pin::new(&mut stream.file).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                if n == 0 {
                    let short = stream_short(&stream.left);
                    self.file = None;
                    if short {
                        return Poll::Ready(Some(Err(io::Error::other(
                            "file shorter than announced",
                        ))));
                    }
                    return Poll::Ready(None);
                }
                if let Some(left) = stream.left.as_mut() {
                    *left -= n as u64;
                }
                buf.truncate(n);
                Poll::Ready(Some(Ok(buf.freeze())))
            }
        }
    }
}

fn stream_short(left: &Option<u64>) -> bool {
    left.is_some_and(|l| l > 0)
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.aborting {
            return Poll::Ready(Some(Err(io::Error::other(
                "the application aborted the response",
            ))));
        }
        loop {
            if this.file.is_some() {
                match this.poll_file(cx) {
                    Poll::Ready(None) => continue,
                    Poll::Ready(Some(Ok(bytes))) => {
                        this.sent += bytes.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Pending => return Poll::Pending,
                }
            }
            return match &mut this.source {
                Source::Full(bytes) => Poll::Ready(bytes.take().map(|b| {
                    this.sent += b.len() as u64;
                    Ok(Frame::data(b))
                })),
                Source::Channel(rx) => match rx.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Reply::Chunk(bytes))) => {
                        // No joining here: hyper asks again at once and
                        // writes the chunks already waiting in one writev.
                        this.sent += bytes.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(bytes))))
                    }
                    Poll::Ready(Some(Reply::File { file, limit })) => {
                        this.file = Some(FileStream {
                            file: tokio::fs::File::from_std(file),
                            left: limit,
                        });
                        continue;
                    }
                    Poll::Ready(Some(Reply::End)) => Poll::Ready(None),
                    Poll::Ready(Some(Reply::Head { .. }))
                    | Poll::Ready(Some(Reply::Abort))
                    | Poll::Ready(None) => {
                        // Error on the next poll, so that hyper first flushes
                        // what the app already sent; then it drops the connection.
                        this.aborting = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                },
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.source, Source::Full(None)) && self.file.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.source, &self.file) {
            (Source::Full(Some(b)), None) => SizeHint::with_exact(b.len() as u64),
            (Source::Full(None), None) => SizeHint::with_exact(0),
            (Source::Full(None), Some(FileStream { left: Some(n), .. })) => {
                SizeHint::with_exact(*n)
            }
            _ => SizeHint::default(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(phase) = &self.phase {
            phase.idle();
        }
        if let Some(log) = self.log.take() {
            log.write(self.sent);
        }
    }
}
