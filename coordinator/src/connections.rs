//! The coordinator's door: every TCP connection is counted and watched, so that idle or
//! silent clients cannot exhaust its file descriptors and lock honest workers out.
//!
//! - A connection that makes no call past the token check within
//!   [`ConnectionLimits::handshake_timeout`] is closed; at most
//!   [`ConnectionLimits::max_unauthenticated`] such connections are open at once (a new
//!   one closes the oldest), so a flood of silent connections cannot keep a worker out.
//! - A connection with no call in progress for [`ConnectionLimits::idle_timeout`] is
//!   closed (a worker's client reconnects on its next call).
//! - At most [`ConnectionLimits::max_connections`] are open; the accept loop backs off,
//!   with a warning, when the process runs out of file descriptors.
//!
//! A connection is closed by ending its byte stream: the HTTP/2 server then drops it.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TlsConnectInfo};

/// The bounds on connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// Connections open at once, at most (lowered to fit the process's file limit).
    pub max_connections: usize,
    /// Connections that have not made a call past the token check yet, at most.
    pub max_unauthenticated: usize,
    /// How long a new connection has to make its first call past the token check.
    pub handshake_timeout: Duration,
    /// How long a connection may stay without a call in progress.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            max_unauthenticated: 256,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// What the coordinator knows of one connection; handlers find it in a request's
/// extensions ([`Peer::of`]).
pub(crate) struct Connection {
    opened: Instant,
    authenticated: AtomicBool,
    calls: AtomicUsize,
    last_call: Mutex<Instant>,
    evicted: AtomicBool,
    waker: AtomicWaker,
}

impl Connection {
    /// When the connection is to be closed as things stand; `None` while a call runs.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.evicted.load(Ordering::Acquire) {
            return Some(self.opened);
        }
        if self.calls.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.authenticated.load(Ordering::Acquire) {
            return Some(self.opened + limits.handshake_timeout);
        }
        let last = *self
            .last_call
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(last + limits.idle_timeout)
    }

    fn close(&self) {
        self.evicted.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Takes the connection out of `door`'s count of silent ones, once: when it
    /// authenticates, is closed to make room, or goes away.
    fn count_out(&self, door: &Door) {
        if !self.authenticated.swap(true, Ordering::AcqRel) {
            door.unauthenticated.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A connection, as a request's extension.
#[derive(Clone)]
pub(crate) struct Peer(Arc<Connection>, Arc<Door>);

/// A call in progress on a connection: the connection is not idle until it drops.
pub(crate) struct Call(Arc<Connection>);

impl Drop for Call {
    fn drop(&mut self) {
        *self
            .0
            .last_call
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
        // The idle clock starts now: let the reader set its timer.
        self.0.waker.wake();
    }
}

impl Peer {
    /// The connection a request came on, over plaintext or TLS.
    pub fn of(extensions: &http::Extensions) -> Option<&Peer> {
        extensions.get::<Peer>().or_else(|| {
            extensions
                .get::<TlsConnectInfo<Peer>>()
                .map(|t| t.get_ref())
        })
    }

    /// Marks the connection as having passed the token check.
    pub fn authenticated(&self) {
        self.0.count_out(&self.1);
    }

    /// A call starts on the connection.
    pub fn call(&self) -> Call {
        self.0.calls.fetch_add(1, Ordering::AcqRel);
        *self
            .0
            .last_call
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        Call(self.0.clone())
    }
}

/// Counts of open connections, and the silent ones in the order they came.
pub(crate) struct Door {
    limits: ConnectionLimits,
    open: AtomicUsize,
    unauthenticated: AtomicUsize,
    waiting: Mutex<VecDeque<Weak<Connection>>>,
    warned: Mutex<Option<Instant>>,
    turned_away: AtomicUsize,
}

impl Door {
    fn new(limits: ConnectionLimits) -> Arc<Door> {
        Arc::new(Door {
            limits,
            open: AtomicUsize::new(0),
            unauthenticated: AtomicUsize::new(0),
            waiting: Mutex::new(VecDeque::new()),
            warned: Mutex::new(None),
            turned_away: AtomicUsize::new(0),
        })
    }

    /// Logs `what` at most every ten seconds, with how many connections were turned away
    /// or closed early since the last time.
    fn warn(&self, what: &str) {
        let count = self.turned_away.fetch_add(1, Ordering::AcqRel) + 1;
        let now = Instant::now();
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10)) {
            *warned = Some(now);
            self.turned_away.store(0, Ordering::Release);
            tracing::warn!(
                open = self.open.load(Ordering::Acquire),
                silent = self.unauthenticated.load(Ordering::Acquire),
                count,
                "{what}"
            );
        }
    }

    /// A connection comes in: room is made for it among the silent ones (the oldest
    /// silent one is closed), or it is refused when the coordinator is full.
    fn admit(self: &Arc<Self>) -> Option<Arc<Connection>> {
        if self.open.load(Ordering::Acquire) >= self.limits.max_connections {
            self.warn("connection limit reached (serve --max-connections): refusing connections");
            return None;
        }
        let now = Instant::now();
        let connection = Arc::new(Connection {
            opened: now,
            authenticated: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            last_call: Mutex::new(now),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        while self.unauthenticated.load(Ordering::Acquire) >= self.limits.max_unauthenticated {
            let Some(oldest) = waiting.pop_front() else {
                break;
            };
            if let Some(oldest) = oldest.upgrade()
                && !oldest.authenticated.load(Ordering::Acquire)
                && !oldest.evicted.load(Ordering::Acquire)
            {
                oldest.close();
                self.warn(
                    "too many connections without an authenticated call \
                     (serve --max-unauthenticated): closing the oldest",
                );
                // Counted out now (not when its stream drops) so that the loop ends.
                oldest.count_out(self);
            }
        }
        // Entries of connections that authenticated or closed are dropped as they surface.
        while waiting.front().is_some_and(|w| {
            w.upgrade()
                .is_none_or(|c| c.authenticated.load(Ordering::Acquire))
        }) {
            waiting.pop_front();
        }
        waiting.push_back(Arc::downgrade(&connection));
        self.unauthenticated.fetch_add(1, Ordering::AcqRel);
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(connection)
    }
}

/// An accepted TCP stream, closed (its reads end) when its connection's deadline passes.
pub(crate) struct Guarded {
    io: TcpStream,
    peer: Peer,
    timer: Pin<Box<Sleep>>,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let door = &self.peer.1;
        door.open.fetch_sub(1, Ordering::AcqRel);
        self.peer.0.count_out(door);
    }
}

impl Connected for Guarded {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let connection = &this.peer.0;
        let limits = &this.peer.1.limits;
        connection.waker.register(cx.waker());
        loop {
            let now = Instant::now();
            match connection.deadline(limits) {
                // Closed: the stream ends, as if the client had hung up.
                Some(deadline) if deadline <= now => return Poll::Ready(Ok(())),
                Some(deadline) => this.timer.as_mut().reset(deadline),
                None => this.timer.as_mut().reset(now + limits.idle_timeout),
            }
            if this.timer.as_mut().poll(cx).is_pending() {
                break;
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A layer over the whole service that counts each call against its connection, so that a
/// connection with a call in progress (a long poll, a download) is never idle, and counts
/// the answers by method and status code for the metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TrackCalls;

impl<S> tower_layer::Layer<S> for TrackCalls {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked(inner)
    }
}

/// A service whose calls [`TrackCalls`] counts.
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S>(S);

impl<S, B, R> tower_service::Service<http::Request<B>> for Tracked<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = Peer::of(request.extensions()).map(Peer::call);
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let answer = self.0.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(call);
            if let Ok(response) = &answered {
                // Errors come in the headers (a trailers-only answer); success in trailers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok()?.parse().ok())
                    .unwrap_or(0);
                crate::observe::call_answered(&method, code);
            }
            answered
        })
    }
}

/// Whether `err` says the process (or system) has no file descriptor left.
fn out_of_descriptors(err: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(err.raw_os_error(), Some(23 | 24))
}

/// File descriptors kept for everything but connections (the database, data files, logs).
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the process's soft limit on open files to its hard limit (as servers do), and
/// returns `limits` with `max_connections` lowered to fit what the process may open.
fn fit_file_limit(mut limits: ConnectionLimits) -> ConnectionLimits {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut files = getrlimit(Resource::Nofile);
    if files.current < files.maximum {
        let raised = rustix::process::Rlimit {
            current: files.maximum,
            maximum: files.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            files = getrlimit(Resource::Nofile);
        }
    }
    if let Some(current) = files.current {
        let room = usize::try_from(current.saturating_sub(RESERVED_DESCRIPTORS).max(16))
            .unwrap_or(usize::MAX);
        if room < limits.max_connections {
            tracing::warn!(
                file_limit = current,
                "the process may open {current} files: serving at most {room} connections"
            );
            limits.max_connections = room;
        }
    }
    limits
}

/// The connections accepted on `listener`, each guarded; the accept loop runs until the
/// stream is dropped (the server stopped), which closes the listening socket.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> ReceiverStream<Result<Guarded, io::Error>> {
    let limits = fit_file_limit(limits);
    let (sender, receiver) = mpsc::channel(16);
    let door = Door::new(limits);
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (io, _remote): (TcpStream, SocketAddr) = match accepted {
                Ok(accepted) => accepted,
                Err(err) if out_of_descriptors(&err) => {
                    door.warn("out of file descriptors: pausing accepting connections");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
                // The client went away between connect and accept: nothing to do.
                Err(_) => continue,
            };
            pause = Duration::from_millis(10);
            let Some(connection) = door.admit() else {
                continue;
            };
            let _ = io.set_nodelay(true);
            let guarded = Guarded {
                io,
                peer: Peer(connection, door.clone()),
                timer: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
            };
            if sender.send(Ok(guarded)).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::AsyncReadExt as _;
    use tokio_stream::StreamExt as _;

    use super::*;

    fn limits(max_unauthenticated: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 100,
            max_unauthenticated,
            handshake_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(400),
        }
    }

    /// Reads from `guarded` until the coordinator's side ends the stream.
    async fn closed_after(mut guarded: Guarded) -> Duration {
        let started = Instant::now();
        let mut buf = [0u8; 16];
        loop {
            if guarded.read(&mut buf).await.unwrap() == 0 {
                return started.elapsed();
            }
        }
    }

    async fn accepted(count: usize, limits: ConnectionLimits) -> Vec<Guarded> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = incoming(listener, limits);
        let mut clients = Vec::new();
        let mut guarded = Vec::new();
        for _ in 0..count {
            clients.push(TcpStream::connect(address).await.unwrap());
            guarded.push(incoming.next().await.unwrap().unwrap());
        }
        // The clients stay open (and silent) for as long as the test needs.
        std::mem::forget(clients);
        guarded
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
        let mut guarded = accepted(1, limits(10)).await;
        let took = closed_after(guarded.remove(0)).await;
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_flood_of_silent_connections_closes_the_oldest_not_the_newest() {
        let mut guarded = accepted(5, limits(3)).await;
        // Two had to make room: the first two end at once; the newest three wait.
        let newest = guarded.split_off(2);
        for old in guarded {
            assert!(closed_after(old).await < Duration::from_millis(100));
        }
        assert_eq!(newest[0].peer.1.unauthenticated.load(Ordering::Acquire), 3);
    }

    #[tokio::test]
    async fn an_authenticated_connection_lives_while_calls_run_and_closes_when_idle() {
        let mut guarded = accepted(1, limits(10)).await;
        let connection = guarded.remove(0);
        let peer = connection.peer.clone();
        peer.authenticated();
        let call = peer.call();
        let watching = tokio::spawn(closed_after(connection));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!watching.is_finished(), "closed during a call");
        drop(call);
        let took = watching.await.unwrap();
        assert!(took >= Duration::from_millis(900), "{took:?}");
    }
}
