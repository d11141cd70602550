//! One HTTP request on the I/O side: extra validation where hyper is lenient,
//! static files, the body read (bounded), the app run inline or the hand-off
//! to a Python thread (`http::inline` decides), and the wait for its reply
//! under the queue- and request-timeouts.
use crate::context::Shared;
use crate::http::access_log::{AccessRecord, Format};
use crate::http::body::ResponseBody;
use crate::http::inline::Inline;
use crate::http::static_files;
use crate::request::{Job, Reply, RequestBody, Ticket, Work};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Everything a connection's requests need.
pub struct Service {
    pub shared: Arc<Shared>,
    pub jobs: crossbeam_channel::Sender<Work>,
    /// None: every request is handed off.
    pub inline: Option<Arc<Inline>>,
    /// This I/O loop's number, and the one accepting now (`http::run`).
    pub generation: u64,
    pub current: Arc<AtomicU64>,
}

pub struct Connection {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub phase: Arc<crate::http::Phase>,
    /// The socket's descriptor, for the watchdog's 504 to an inline request.
    pub fd: std::os::fd::RawFd,
}

/// On a response the watchdog already answered on the socket (and counted).
#[derive(Clone, Copy)]
struct AnsweredByWatchdog;

fn plain(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An error answer that also ends the connection (the request was not read to the end).
fn refuse(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut response = plain(status, text);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request-timeout's answer (the watchdog writes the same bytes for an
/// inline request: `crate::watchdog::TIMED_OUT`).
fn timed_out() -> Response<ResponseBody> {
    let mut response = plain(
        StatusCode::GATEWAY_TIMEOUT,
        "Gateway Timeout: the application did not answer within the request-timeout",
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The client's X-Request-Id when it is sane, else a fresh one (pid, time, counter).
fn request_id(headers: &HeaderMap) -> String {
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        if !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic()) {
            return id.to_string();
        }
    }
    // pid + process start time + a counter: unique per worker, no clock read per request.
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        format!(
            "{:06x}{:010x}",
            std::process::id() & 0xff_ffff,
            started & 0xff_ffff_ffff
        )
    });
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{n:08x}")
}

/// Why a request that hyper parsed must still be refused.
pub enum Refusal {
    BadRequest(&'static str),
    UriTooLong,
    FieldTooLarge,
}

/// Requests hyper accepts but a strict server must not pass on (RFC 9112
/// framing rules, gunicorn's default limits), checked before anything else.
fn malformed(req: &Request<Incoming>, config: &crate::config::Config) -> Option<Refusal> {
    use Refusal::BadRequest;
    let headers = req.headers();
    let method = req.method().as_str();
    // gunicorn's default: methods are upper-case tokens of 3 to 20 characters.
    if method.len() < 3
        || method.len() > 20
        || method.bytes().any(|b| b.is_ascii_lowercase() || b == b'#')
    {
        return Some(BadRequest("unconventional request method"));
    }
    let target_len = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0)
        + req.uri().authority().map(|a| a.as_str().len()).unwrap_or(0)
        + req.uri().scheme_str().map(|s| s.len() + 3).unwrap_or(0);
    if config.limit_request_line > 0 && method.len() + target_len + 10 > config.limit_request_line {
        return Some(Refusal::UriTooLong);
    }
    // hyper is given twice these limits (beyond that it closes the
    // connection); here they get a proper 431.
    if config.limit_request_headers_count > 0 && headers.len() > config.limit_request_headers_count
    {
        return Some(Refusal::FieldTooLarge);
    }
    let head_size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + method.len()
        + target_len
        + 12;
    if config.limit_request_headers_size > 0 && head_size > config.limit_request_headers_size {
        return Some(Refusal::FieldTooLarge);
    }
    if config.limit_request_field_size > 0 {
        for (name, value) in headers.iter() {
            if name.as_str().len() + value.len() + 4 > config.limit_request_field_size {
                return Some(Refusal::FieldTooLarge);
            }
        }
    }
    let te: Vec<&[u8]> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        // `identity` names no coding (RFC 2616): the length is Content-Length's.
        .filter(|c| !c.eq_ignore_ascii_case(b"identity"))
        .collect();
    if !te.is_empty() {
        if req.version() == Version::HTTP_10 {
            return Some(BadRequest("Transfer-Encoding is not allowed in HTTP/1.0"));
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Some(BadRequest("both Content-Length and Transfer-Encoding"));
        }
        let chunked = te
            .iter()
            .filter(|c| c.eq_ignore_ascii_case(b"chunked"))
            .count();
        if chunked != 1
            || !te
                .last()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
        {
            return Some(BadRequest(
                "chunked must be the last and only chunked transfer coding",
            ));
        }
    }
    let lengths: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    if lengths.len() > 1 {
        return Some(BadRequest("several Content-Length headers"));
    }
    for value in lengths {
        if value.is_empty() || !value.as_bytes().iter().all(u8::is_ascii_digit) {
            return Some(BadRequest("Content-Length is not a number"));
        }
    }
    if headers.get_all(header::CONTENT_TYPE).iter().count() > 1 {
        return Some(BadRequest("several Content-Type headers"));
    }
    let uri = req.uri();
    let is_connect = req.method() == http::Method::CONNECT;
    let path = uri.path();
    if is_connect {
        if uri.authority().is_none() || uri.scheme().is_some() {
            return Some(BadRequest("CONNECT needs an authority-form target"));
        }
    } else if path == "*" {
        if req.method() != http::Method::OPTIONS {
            return Some(BadRequest("the asterisk target is only for OPTIONS"));
        }
    } else if uri.scheme().is_none() && uri.authority().is_some() || !path.starts_with('/') {
        return Some(BadRequest("bad request target"));
    }
    if req.version() == Version::HTTP_11 {
        match headers.get_all(header::HOST).iter().count() {
            // RFC 9112 §3.2: MUST answer 400, even with an absolute-form target.
            0 if !config.accept_missing_host => {
                return Some(BadRequest("an HTTP/1.1 request needs a Host header"))
            }
            0 | 1 => {}
            _ => return Some(BadRequest("several Host headers")),
        }
    }
    for (_name, value) in headers.iter() {
        if value
            .as_bytes()
            .iter()
            .any(|&b| b == 0 || b == b'\r' || b == b'\n' || b == 0x7f || (b < 0x20 && b != b'\t'))
        {
            return Some(BadRequest("invalid character in a header value"));
        }
    }
    None
}

impl Service {
    pub async fn call(
        self: Arc<Self>,
        conn: Arc<Connection>,
        req: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, Infallible> {
        conn.phase.busy();
        let started = Instant::now();
        let shared = &self.shared;
        let id = request_id(req.headers());
        let log = shared.config.access_log.then(|| {
            let header_text = |name: header::HeaderName| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string()
            };
            Box::new(AccessRecord {
                format: Format::parse(&shared.config.access_log_format),
                remote: conn.peer.ip().to_string(),
                method: req.method().to_string(),
                target: req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| req.uri().to_string()),
                version: if req.version() == Version::HTTP_10 {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                },
                status: 0,
                request_id: id.clone(),
                referer: header_text(header::REFERER),
                user_agent: header_text(header::USER_AGENT),
                at: SystemTime::now(),
                started,
            })
        });
        let mut response = self.respond(&conn, req, id).await;
        let status = response.status().as_u16();
        // Every response a request gets passes here exactly once — the app's,
        // the static files', the refusals' and the 503/504 of the timeouts —
        // so this is the one place the status classes are counted (but for
        // the watchdog's 504 to an inline request, counted where written).
        if response.extensions().get::<AnsweredByWatchdog>().is_none() {
            shared.metrics.count_status(status);
        }
        let log = log.map(|mut l| {
            l.status = status;
            l
        });
        let body = std::mem::replace(response.body_mut(), ResponseBody::empty());
        *response.body_mut() = body.with_log(log).with_phase(conn.phase.clone());
        Ok(response)
    }

    async fn respond(
        &self,
        conn: &Connection,
        req: Request<Incoming>,
        request_id: String,
    ) -> Response<ResponseBody> {
        let shared = &self.shared;
        if let Some(refusal) = malformed(&req, &shared.config) {
            return match refusal {
                Refusal::BadRequest(why) => refuse(StatusCode::BAD_REQUEST, why),
                Refusal::UriTooLong => refuse(StatusCode::URI_TOO_LONG, "Request line too long"),
                Refusal::FieldTooLarge => refuse(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Request header field too large",
                ),
            };
        }
        if let Some((root, rest)) =
            static_files::find_mount(&shared.static_mounts, req.uri().path())
        {
            return static_files::serve(req.method(), req.headers(), root, rest).await;
        }
        let limit = shared.config.limit_request_body;
        let declared: Option<u64> = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        if limit > 0 && declared.is_some_and(|n| n > limit) {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
        }
        let (parts, incoming) = req.into_parts();
        let pace = BodyPace {
            timeout: shared.config.header_timeout,
            min_rate: shared.config.body_min_rate,
        };
        let body = match read_body(incoming, limit, declared, pace).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return refuse(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            }
            Err(BodyError::Slow) => {
                return refuse(StatusCode::REQUEST_TIMEOUT, "Request body too slow")
            }
            Err(BodyError::Broken) => {
                return refuse(StatusCode::BAD_REQUEST, "Malformed request body")
            }
            Err(BodyError::ForbiddenTrailer) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "Forbidden field in the chunked trailer",
                )
            }
        };
        let is_connect = parts.method == http::Method::CONNECT;
        let (reply_tx, mut reply_rx) = tokio::sync::mpsc::channel(16);
        let ticket = Ticket::new();
        let job = Job {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            body,
            peer: conn.peer,
            local: conn.local,
            request_id,
            reply: Some(reply_tx),
            ticket: ticket.clone(),
        };
        let current = self.current.load(Ordering::Relaxed) == self.generation;
        let inline = match self.inline.as_ref() {
            Some(inline) if inline.pays(shared, &self.jobs, current).await => Some(inline),
            _ => None,
        };
        if let Some(inline) = inline {
            let unflushed = conn.phase.unflushed();
            if inline.run(shared, &self.jobs, job, conn.fd, unflushed, self.generation) {
                let mut response = timed_out();
                response.extensions_mut().insert(AnsweredByWatchdog);
                return response;
            }
        } else if self.queue_full() || self.jobs.try_send(Work::Request(job)).is_err() {
            shared
                .metrics
                .queue_rejected
                .fetch_add(1, Ordering::Relaxed);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable: request queue is full",
            );
        } else {
            shared.job_queued(self.jobs.len());
            shared
                .metrics
                .handed_off_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        // An inline run's head is already in the channel: no timer then.
        let first = match reply_rx.try_recv() {
            Ok(reply) => Some(reply),
            Err(_) => match self.wait_for_head(&ticket, &mut reply_rx).await {
                Ok(reply) => reply,
                Err(response) => return response,
            },
        };
        match first {
            Some(Reply::Head { status, .. }) if is_connect && status.is_success() => {
                // A 2xx answer to CONNECT means "tunnel open" (RFC 9110
                // §9.3.6), which a WSGI application cannot provide: the
                // request reached the app, but the client is told no.
                eprintln!("[warpserver] the application answered CONNECT with {status}; a WSGI server cannot open a tunnel, so the client gets 501");
                refuse(
                    StatusCode::NOT_IMPLEMENTED,
                    "Not Implemented: CONNECT tunnels are not supported",
                )
            }
            Some(Reply::Head {
                status,
                reason,
                headers,
                body,
            }) => {
                let body = match body {
                    Some(bytes) => ResponseBody::full(bytes),
                    None => ResponseBody::channel(reply_rx),
                };
                let mut response = Response::new(body);
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                if let Some(reason) = reason {
                    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason.into_bytes()) {
                        response.extensions_mut().insert(reason);
                    }
                }
                response
            }
            _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }

    /// The queue is full, counting the jobs a Python thread holds until a
    /// slot frees (`pool::wait_for_a_slot`; the channel alone knows the rest).
    fn queue_full(&self) -> bool {
        let held = self.shared.metrics.held_jobs.load(Ordering::Relaxed) as usize;
        held > 0 && self.jobs.len() + held >= self.shared.config.queue_backlog.max(1)
    }

    /// The head from the Python thread, or the 503/504 a timeout gives.
    async fn wait_for_head(
        &self,
        ticket: &Ticket,
        reply_rx: &mut tokio::sync::mpsc::Receiver<Reply>,
    ) -> Result<Option<Reply>, Response<ResponseBody>> {
        let shared = &self.shared;
        let queue_timeout = crate::config::seconds(shared.config.queue_timeout);
        let request_timeout = crate::config::seconds(shared.config.request_timeout);
        let far = Duration::from_secs(86400 * 365);
        loop {
            // One far-off timer per request rather than a 20 ms poll while
            // the job waits (every re-armed timer is work for the I/O thread).
            // Until a thread picks the job: wake at the earlier of the
            // queue-timeout and the request-timeout counted from the enqueue
            // (counted from the pick, the request-timeout cannot end sooner);
            // past that and still not picked, look again every 20 ms.
            let deadline = match ticket.picked_at(shared) {
                Some(picked) => picked + request_timeout.unwrap_or(far),
                None => {
                    let first = ticket.enqueued
                        + queue_timeout
                            .unwrap_or(far)
                            .min(request_timeout.unwrap_or(far));
                    let now = Instant::now();
                    if first > now {
                        first
                    } else {
                        now + Duration::from_millis(20)
                    }
                }
            };
            tokio::select! {
                reply = reply_rx.recv() => return Ok(reply),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    match ticket.picked_at(shared) {
                        None if queue_timeout.is_some_and(|t| ticket.enqueued.elapsed() >= t) && ticket.expire() => {
                            shared.metrics.queue_rejected.fetch_add(1, Ordering::Relaxed);
                            return Err(plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable: no thread became free within the queue-timeout"));
                        }
                        Some(picked) if request_timeout.is_some_and(|t| picked.elapsed() >= t) => {
                            shared.metrics.request_timeouts.fetch_add(1, Ordering::Relaxed);
                            shared.recycle("request-timeout");
                            return Err(timed_out());
                        }
                        _ => continue,
                    }
                }
            }
        }
    }
}

enum BodyError {
    ForbiddenTrailer,
    TooLarge,
    Slow,
    Broken,
}

/// How fast a request body must arrive.
struct BodyPace {
    /// Each read must make progress within this many seconds (0: no limit).
    timeout: f64,
    /// And the whole body must keep this average rate in bytes/s beyond the
    /// first `timeout` seconds (0: no rate).
    min_rate: f64,
}

impl BodyPace {
    /// The latest instant the next frame may arrive, `received` bytes in.
    fn deadline(&self, started: tokio::time::Instant, received: usize) -> tokio::time::Instant {
        let step = crate::config::seconds(self.timeout).unwrap_or(Duration::from_secs(86400));
        let per_read = tokio::time::Instant::now() + step;
        if self.min_rate > 0.0 && self.timeout > 0.0 {
            let allowed = step + Duration::from_secs_f64(received as f64 / self.min_rate);
            per_read.min(started + allowed)
        } else {
            per_read
        }
    }
}

/// True when a body read failed because the client's stream ended (EOF)
/// before the declared length — not a framing error.
fn ended_by_client(error: &hyper::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::UnexpectedEof;
        }
        cause = e.source();
    }
    false
}

/// Read the whole body, at most `limit` bytes (0 = no limit), at the pace of
/// `pace` (a trickling client is cut off here, on the I/O side, never holding
/// a Python thread).
async fn read_body(
    mut incoming: Incoming,
    limit: u64,
    declared: Option<u64>,
    pace: BodyPace,
) -> Result<RequestBody, BodyError> {
    if declared == Some(0) || http_body::Body::is_end_stream(&incoming) {
        return Ok(RequestBody::default()); // no body: no timer, no polling
    }
    let started = tokio::time::Instant::now();
    let mut body = RequestBody::default();
    loop {
        let deadline = pace.deadline(started, body.len());
        let frame = match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Err(_) => return Err(BodyError::Slow),
            Ok(None) => break,
            Ok(Some(Err(e))) if declared.is_some() && ended_by_client(&e) => {
                // The client shut its sending side before Content-Length
                // bytes came: as gunicorn does, the app gets what was sent
                // (its reads end early; CONTENT_LENGTH stays as declared).
                eprintln!(
                    "[warpserver] the client ended the request body after {} of {} bytes; the application gets the bytes that came",
                    body.len(),
                    declared.unwrap_or(0)
                );
                break;
            }
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Some(trailers) = frame.trailers_ref() {
            // RFC 9110 §6.5.1: framing, routing and auth fields never come from trailers.
            const FORBIDDEN: &[&str] = &[
                "content-length",
                "transfer-encoding",
                "host",
                "authorization",
                "te",
                "trailer",
                "connection",
                "expect",
            ];
            if trailers.keys().any(|k| FORBIDDEN.contains(&k.as_str())) {
                return Err(BodyError::ForbiddenTrailer);
            }
            continue;
        }
        if let Ok(data) = frame.into_data() {
            if limit > 0 && (body.len() + data.len()) as u64 > limit {
                return Err(BodyError::TooLarge);
            }
            // Kept as received: wsgi.input copies from the frames themselves.
            body.push(data);
        }
    }
    Ok(body)
}
