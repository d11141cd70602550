//! The I/O side of a worker: a single-threaded tokio runtime that accepts on
//! the inherited listening socket, runs hyper's HTTP/1 server on each
//! connection, and drains gracefully on SIGTERM/SIGINT or a recycle.
//!
//! Its thread keeps a Python thread state for its life and takes the GIL
//! only to run a request inline (`inline`, through the runner `lib.rs`
//! gives it); everything else here runs without it. It is not the process's
//! main thread, so Python signal handlers never run inside an inline call.
//! Normally one I/O loop serves the worker; when an inline call holds the
//! current one too long, the watchdog starts another that takes over
//! accepting ([`run`]'s generations).
pub mod access_log;
pub mod body;
pub mod fuzz_entry;
pub mod inline;
pub mod service;
pub mod static_files;

use crate::config::{seconds, Config};
use crate::context::Shared;
use crate::request::{RunInline, Work};
use service::{Connection, Service};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Where a connection stands, and since when; shared by its socket wrapper
/// (which keeps the clocks) and the service and response body (which move it
/// along).
pub struct Phase {
    state: AtomicU8,
    /// When the current phase began, in microseconds after `born`.
    since_us: AtomicU64,
    born: tokio::time::Instant,
    /// The last write to the socket could not finish: hyper holds bytes.
    unflushed: std::sync::atomic::AtomicBool,
}

const AWAITING_HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

impl Phase {
    fn new() -> Arc<Phase> {
        Arc::new(Phase {
            state: AtomicU8::new(AWAITING_HEAD),
            since_us: AtomicU64::new(0),
            born: tokio::time::Instant::now(),
            unflushed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// hyper may hold response bytes it could not write yet.
    pub fn unflushed(&self) -> bool {
        self.unflushed.load(Ordering::Relaxed)
    }

    fn wrote<T>(&self, result: Poll<T>) -> Poll<T> {
        if result.is_pending() {
            self.unflushed.store(true, Ordering::Relaxed);
        }
        result
    }

    /// A request head was read: the app's turn, no clock runs.
    pub fn busy(&self) {
        self.state.store(BUSY, Ordering::Release);
    }

    /// The response is done: the keep-alive clock runs from now.
    pub fn idle(&self) {
        self.mark_since();
        self.state.store(IDLE, Ordering::Release);
    }

    /// Bytes arrived on an idle connection: a new head began, its clock runs from now.
    fn head_begun(&self) {
        if self.state.load(Ordering::Acquire) == IDLE {
            self.mark_since();
            self.state.store(AWAITING_HEAD, Ordering::Release);
        }
    }

    fn mark_since(&self) {
        let us = self.born.elapsed().as_micros() as u64;
        self.since_us.store(us, Ordering::Release);
    }

    fn since(&self) -> tokio::time::Instant {
        self.born + Duration::from_micros(self.since_us.load(Ordering::Acquire))
    }
}

/// What the clocks say when a read finds nothing to read.
enum Check {
    /// Idle past the keep-alive timeout: end-of-file, hyper closes quietly.
    KeepAliveOver,
    /// A head not complete within the header-timeout: an error, hyper closes.
    HeadTooSlow,
    /// Look again at this instant (or when bytes arrive).
    At(tokio::time::Instant),
    /// No clock is configured.
    Never,
}

/// A connection's socket with the two clocks of an HTTP/1 connection:
/// - header-timeout: from the accept, or from the first byte of a later
///   request, until its head is complete;
/// - keep-alive timeout: idle after a response with nothing received.
///
/// Done here rather than with hyper's header_read_timeout, which arms and
/// clears a timer for every request: here ONE timer per connection is
/// checked lazily — when it fires, the phase and its start time (plain
/// atomics the service updates) say whether a limit passed, and it is re-armed
/// for the next instant that matters, at most `step` ahead. A busy keep-alive
/// connection costs a timer firing every couple of seconds, not one per
/// request.
struct ClockedSocket {
    inner: TcpStream,
    phase: Arc<Phase>,
    keep_alive: Option<Duration>,
    header_timeout: Option<Duration>,
    /// How far ahead the clock is set while no limit is near (the shorter limit).
    step: Option<Duration>,
    clock: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Lingering close: after our FIN, read and discard what the client still
    /// sends (pipelined requests we will not answer) for up to a second, so
    /// the kernel does not answer them with a RST that destroys our response.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ClockedSocket {
    fn check(&self, now: tokio::time::Instant) -> Check {
        let Some(step) = self.step else {
            return Check::Never;
        };
        let limit = match self.phase.state.load(Ordering::Acquire) {
            AWAITING_HEAD => self.header_timeout.map(|t| (t, Check::HeadTooSlow)),
            IDLE => self.keep_alive.map(|t| (t, Check::KeepAliveOver)),
            _ => None,
        };
        match limit {
            Some((limit, over)) => {
                let deadline = self.phase.since() + limit;
                if now >= deadline {
                    over
                } else {
                    Check::At(deadline.min(now + step))
                }
            }
            None => Check::At(now + step),
        }
    }
}

impl AsyncRead for ClockedSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.phase.head_begun();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.check(tokio::time::Instant::now()) {
                Check::KeepAliveOver => Poll::Ready(Ok(())),
                Check::HeadTooSlow => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request head not complete within the header-timeout",
                ))),
                Check::Never => {
                    this.clock = None;
                    Poll::Pending
                }
                Check::At(at) => {
                    match &mut this.clock {
                        // An earlier look is already set: keep it (no timer work).
                        Some(clock) if !clock.is_elapsed() && clock.deadline() <= at => {}
                        Some(clock) => clock.as_mut().reset(at),
                        None => this.clock = Some(Box::pin(tokio::time::sleep_until(at))),
                    }
                    let clock = this.clock.as_mut().expect("set above");
                    if clock.as_mut().poll(cx).is_ready() {
                        cx.waker().wake_by_ref(); // look again at once
                    }
                    Poll::Pending
                }
            },
        }
    }
}

impl AsyncWrite for ClockedSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.phase
            .wrote(Pin::new(&mut this.inner).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        this.phase
            .wrote(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = this.phase.wrote(Pin::new(&mut this.inner).poll_flush(cx));
        if result.is_ready() {
            this.phase.unflushed.store(false, Ordering::Relaxed);
        }
        result
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            if let Err(e) = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx)) {
                return Poll::Ready(Err(e));
            }
            this.linger = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1))));
        }
        let mut scratch = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    let linger = this.linger.as_mut().expect("set above");
                    return if linger.as_mut().poll(cx).is_ready() {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }
}

/// How long a worker whose Python threads are all taken holds back from
/// accepting, so that an idle worker sharing the listening socket takes the
/// new connection instead of it queueing here behind a slow request.
const SATURATED_ACCEPT_HOLD: Duration = Duration::from_millis(50);

/// A request running this long makes its thread "slow" for the accept hold.
const SLOW_REQUEST: Duration = Duration::from_millis(5);

/// Every Python thread of this worker is taken (running a request, or one is
/// waiting for it) and even the newest has run for SLOW_REQUEST: a new
/// connection would wait here. (Fast requests never hold the accept back:
/// while one runs, the next is read and queued — that overlap is worth more
/// than spreading short requests.)
fn saturated(shared: &Shared, jobs: &crossbeam_channel::Sender<Work>) -> bool {
    let m = &shared.metrics;
    let busy = m.busy_threads.load(Ordering::Relaxed) as usize;
    if busy + jobs.len() < m.threads.load(Ordering::Relaxed) as usize {
        return false;
    }
    let now_us = shared.started.elapsed().as_micros() as u64;
    let newest = m.last_pick_us.load(Ordering::Relaxed);
    now_us.saturating_sub(newest) >= SLOW_REQUEST.as_micros() as u64
}

/// A connection is waiting. With other workers on the same socket, hold back
/// (at most SATURATED_ACCEPT_HOLD, checking every millisecond) while this
/// worker is saturated: all workers wake for it, and one that can run it at
/// once takes it. When every worker is saturated, each accepts after the
/// hold, as before.
async fn leave_accept_to_idle_workers(shared: &Shared, jobs: &crossbeam_channel::Sender<Work>) {
    if shared.config.processes < 2 {
        return;
    }
    let until = tokio::time::Instant::now() + SATURATED_ACCEPT_HOLD;
    while saturated(shared, jobs) && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The worker's I/O loops, numbered by generation: loop 0 starts with the
/// worker; a later one only when the watchdog finds the current loop held by
/// an inline call past `watchdog::RESCUE_AFTER` ([`Loops::take_over`]). The new
/// loop accepts from then on; the old one serves the connections it has once
/// the call returns, then ends. Each runs on its own thread, which keeps a
/// Python thread state for its life (inline calls then only take the GIL).
struct Loops {
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    jobs: crossbeam_channel::Sender<Work>,
    inline: Option<Arc<inline::Inline>>,
    /// The generation accepting now, plain (read per request) and as a
    /// channel (wakes the loop it replaces).
    current: Arc<AtomicU64>,
    current_tx: tokio::sync::watch::Sender<u64>,
    /// Shared by all loops: max_connections holds across a take-over.
    permits: Arc<tokio::sync::Semaphore>,
    /// Generations that have ended (and the first error), with their threads.
    ended: std::sync::Mutex<(Vec<u64>, Option<std::io::Error>)>,
    ended_signal: std::sync::Condvar,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Loops {
    fn spawn(self: &Arc<Self>, generation: u64) -> std::io::Result<()> {
        let loops = self.clone();
        let thread = std::thread::Builder::new()
            .name(format!("warpserver-io-{generation}"))
            .spawn(move || {
                let result =
                    pyo3::Python::attach(|py| py.detach(|| loops.serve_generation(generation)));
                let mut ended = loops.ended.lock().unwrap();
                ended.0.push(generation);
                if let Err(e) = result {
                    ended.1.get_or_insert(e);
                }
                loops.ended_signal.notify_all();
            })?;
        self.threads.lock().unwrap().push(thread);
        Ok(())
    }

    fn serve_generation(&self, generation: u64) -> std::io::Result<()> {
        crate::scheduling::apply(self.shared.config.cpu_scheduling);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = self.listener.try_clone()?;
        runtime.block_on(serve(listener, self, generation))
    }

    /// The watchdog's call: `stuck` is held by an inline call; if it is still
    /// the accepting loop, a new one takes over.
    fn take_over(self: &Arc<Self>, stuck: u64) {
        let next = stuck + 1;
        if self
            .current
            .compare_exchange(stuck, next, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        eprintln!(
            "[warpserver] a request has held I/O loop {stuck} for over {} ms; loop {next} takes over accepting",
            crate::watchdog::RESCUE_AFTER.as_millis()
        );
        self.current_tx.send_replace(next);
        if let Err(e) = self.spawn(next) {
            eprintln!("[warpserver] could not start I/O loop {next}: {e}");
        }
    }
}

/// Serve until told to stop: returns once the accepting loop has drained
/// (or its graceful-timeout passed), with the threads of every loop — an
/// older one may still be in an inline call; the caller waits for it up to
/// the shutdown-timeout.
pub fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    jobs: crossbeam_channel::Sender<Work>,
    run_inline: Option<RunInline>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    listener.set_nonblocking(true)?;
    let loops = Arc::new(Loops {
        listener,
        permits: Arc::new(tokio::sync::Semaphore::new(
            shared.config.max_connections.max(1),
        )),
        shared: shared.clone(),
        jobs,
        inline: run_inline.map(|run| Arc::new(inline::Inline::new(run))),
        current: Arc::new(AtomicU64::new(0)),
        current_tx: tokio::sync::watch::Sender::new(0),
        ended: std::sync::Mutex::new((Vec::new(), None)),
        ended_signal: std::sync::Condvar::new(),
        threads: std::sync::Mutex::new(Vec::new()),
    });
    let weak = Arc::downgrade(&loops);
    let _ = shared.rescue.set(Box::new(move |stuck| {
        if let Some(loops) = weak.upgrade() {
            loops.take_over(stuck);
        }
    }));
    loops.spawn(0)?;
    let mut ended = loops.ended.lock().unwrap();
    while !ended.0.contains(&loops.current.load(Ordering::SeqCst)) {
        ended = loops.ended_signal.wait(ended).unwrap();
    }
    if let Some(e) = ended.1.take() {
        return Err(e);
    }
    drop(ended);
    let threads = std::mem::take(&mut *loops.threads.lock().unwrap());
    Ok(threads)
}

/// One I/O loop: take connections until told to stop (or superseded), hand
/// each to hyper with its clocks, then drain. Each step is its own function below.
async fn serve(
    listener: std::net::TcpListener,
    loops: &Loops,
    generation: u64,
) -> std::io::Result<()> {
    let shared = &loops.shared;
    // Readiness and accept apart (not tokio's TcpListener): a saturated
    // worker sees a connection waiting without taking it.
    // SAFETY: the std listener owns its descriptor; it stays open, the same
    // one, for as long as the AsyncFd that owns the listener lives.
    let listener = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(listener, tokio::io::Interest::READABLE)
    }?;
    let builder = connection_builder(&shared.config);
    let clocks = Clocks::from_config(&shared.config);
    let service = Arc::new(Service {
        shared: shared.clone(),
        jobs: loops.jobs.clone(),
        inline: loops.inline.clone(),
        generation,
        current: loops.current.clone(),
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = StopSignals::install(loops.current_tx.subscribe(), generation)?;
    spawn_state_reporter(shared.clone())?;
    while let Some((stream, peer, permit)) =
        next_connection(&listener, &service, &loops.permits, &mut stop).await?
    {
        let Some((io, conn)) = clocks.open(stream, peer) else {
            continue;
        };
        let service = service.clone();
        let handler =
            hyper::service::service_fn(move |req| service.clone().call(conn.clone(), req));
        let connection = graceful.watch(builder.serve_connection(io, handler));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    drain(graceful, &shared.config).await;
    Ok(())
}

/// hyper's HTTP/1 settings from the worker's limits (also the fuzz target's).
pub(crate) fn connection_builder(config: &Config) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        // The header-timeout is ClockedSocket's (no timer per request).
        .header_read_timeout(None)
        .keep_alive(config.keep_alive_timeout > 0.0)
        .max_header_size(config.limit_request_headers_size.max(1024) * 2)
        // No pipeline_flush: with it, hyper drops the answer to a request
        // that ends the connection (HTTP/1.0, `Connection: close`) when more
        // pipelined bytes arrived in the same read (corpus valid/019, 021, 040).
        .half_close(false);
    // hyper's default of 100 header slots lives on the stack (fast); more
    // slots move to the heap, so ask only when the limit needs it.
    if config.limit_request_headers_count > 100 {
        builder.max_headers(config.limit_request_headers_count * 2);
    }
    builder
}

/// The connection clocks' settings, the same for every connection.
struct Clocks {
    keep_alive: Option<Duration>,
    header_timeout: Option<Duration>,
    step: Option<Duration>,
}

impl Clocks {
    fn from_config(config: &Config) -> Clocks {
        let keep_alive = seconds(config.keep_alive_timeout);
        let header_timeout = seconds(config.header_timeout);
        let step = match (keep_alive, header_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Clocks {
            keep_alive,
            header_timeout,
            step,
        }
    }

    /// An accepted socket as hyper's I/O (with its clocks) and the
    /// connection's facts the service reads; None when tokio cannot take it.
    fn open(
        &self,
        stream: std::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> Option<(hyper_util::rt::TokioIo<ClockedSocket>, Arc<Connection>)> {
        stream.set_nonblocking(true).ok()?;
        let stream = TcpStream::from_std(stream).ok()?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let phase = Phase::new();
        let conn = Arc::new(Connection {
            peer,
            local,
            phase: phase.clone(),
            fd: std::os::fd::AsRawFd::as_raw_fd(&stream),
        });
        let io = hyper_util::rt::TokioIo::new(ClockedSocket {
            inner: stream,
            phase,
            keep_alive: self.keep_alive,
            header_timeout: self.header_timeout,
            step: self.step,
            clock: None,
            linger: None,
        });
        Some((io, conn))
    }
}

/// SIGTERM and SIGINT (and a recycle, through `Shared::stop`): the worker
/// stops accepting. A loop that another took over stops accepting too.
struct StopSignals {
    sigterm: tokio::signal::unix::Signal,
    sigint: tokio::signal::unix::Signal,
    current: tokio::sync::watch::Receiver<u64>,
    generation: u64,
}

impl StopSignals {
    fn install(
        current: tokio::sync::watch::Receiver<u64>,
        generation: u64,
    ) -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            sigterm: signal(SignalKind::terminate())?,
            sigint: signal(SignalKind::interrupt())?,
            current,
            generation,
        })
    }

    /// This loop accepts no more: the worker stops, or another loop took over.
    fn over(&self, shared: &Shared) -> bool {
        shared.is_stopping() || *self.current.borrow() != self.generation
    }

    /// Completes when the worker is told to stop (recording why) or this
    /// loop is taken over.
    async fn stopped(&mut self, shared: &Shared) {
        let generation = self.generation;
        tokio::select! {
            _ = self.sigterm.recv() => shared.begin_stop("SIGTERM"),
            _ = self.sigint.recv() => shared.begin_stop("SIGINT"),
            _ = shared.stop.notified() => {}
            _ = self.current.wait_for(|now| *now != generation) => {}
        }
    }
}

/// SIGUSR1: dump this worker's state to the error log. SIGHUP: the
/// supervisor's business (rolling restart); a worker ignores it rather than
/// dying of the default action.
fn spawn_state_reporter(state: Arc<Shared>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sighup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = sigusr1.recv() => {
                    let m = &state.metrics;
                    eprintln!(
                        "[warpserver] state: pid {} up {:.0}s, requests {} ({} inline, {} handed off), busy threads {}/{}, queue rejections {}, request timeouts {}, stopping {}",
                        std::process::id(),
                        state.started.elapsed().as_secs_f64(),
                        m.requests.load(Ordering::Relaxed),
                        m.inline_requests.load(Ordering::Relaxed),
                        m.handed_off_requests.load(Ordering::Relaxed),
                        m.busy_threads.load(Ordering::Relaxed),
                        m.threads.load(Ordering::Relaxed),
                        m.queue_rejected.load(Ordering::Relaxed),
                        m.request_timeouts.load(Ordering::Relaxed),
                        state.is_stopping(),
                    );
                }
                Some(()) = sighup.recv() => {}
                else => break,
            }
        }
    });
    Ok(())
}

/// The next connection to serve, with its connection permit; None once the
/// worker is told to stop.
async fn next_connection(
    listener: &tokio::io::unix::AsyncFd<std::net::TcpListener>,
    service: &Service,
    permits: &Arc<tokio::sync::Semaphore>,
    stop: &mut StopSignals,
) -> std::io::Result<
    Option<(
        std::net::TcpStream,
        std::net::SocketAddr,
        tokio::sync::OwnedSemaphorePermit,
    )>,
> {
    let shared = &service.shared;
    loop {
        if stop.over(shared) {
            return Ok(None);
        }
        // Back-pressure: at max_connections we stop accepting; clients wait in the listen queue.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("semaphore open"),
            _ = stop.stopped(shared) => return Ok(None),
        };
        // Stopping first: the listener's readiness stays set after an
        // accept (until one finds nothing), and a connection taken after
        // SIGTERM would be closed unanswered by the drain.
        let mut ready = tokio::select! {
            biased;
            _ = stop.stopped(shared) => return Ok(None),
            ready = listener.readable() => ready?,
        };
        leave_accept_to_idle_workers(shared, &service.jobs).await;
        match listener.get_ref().accept() {
            Ok((stream, peer)) => return Ok(Some((stream, peer, permit))),
            // Another worker took it (or the client left): wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin.
                eprintln!("[warpserver] accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Let the connections in flight finish, up to the graceful-timeout.
async fn drain(graceful: hyper_util::server::graceful::GracefulShutdown, config: &Config) {
    // Connections accepted just before the stop get to read their first
    // request before the drain: hyper closes a connection that has not begun
    // one, even when the request already waits in its socket.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let window = seconds(config.graceful_timeout).unwrap_or(Duration::ZERO);
    if tokio::time::timeout(window, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "[warpserver] graceful-timeout ({}s) passed with requests still in flight",
            config.graceful_timeout
        );
    }
}
