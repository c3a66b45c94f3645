//! A TCP proxy between a client and a server that the test can cut: for a
//! moment everything the client sends is lost, then every connection
//! through it is dropped, while both ends live on (the client reconnects
//! through it). Rationale: a killed server loses its state too; a cut
//! connection tests what a client must do when only the wire fails — the
//! faults `netem` would make, which this machine's kernel lacks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A running proxy; dropped, it stops and drops its connections.
pub struct CuttingProxy {
    addr: SocketAddr,
    connections: Arc<Mutex<JoinSet<()>>>,
    /// While set, what clients send is read and thrown away.
    losing: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// A proxy on a free local port forwarding to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: String) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let addr = listener.local_addr().expect("its address");
        let connections: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let losing = Arc::new(AtomicBool::new(false));
        let (accepting, losing_too) = (connections.clone(), losing.clone());
        let listener = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, losing) = (upstream.clone(), losing_too.clone());
                accepting.lock().expect("proxy lock").spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        forward(client, server, losing).await;
                    }
                });
            }
        });
        CuttingProxy { addr, connections, losing, listener }
    }

    /// `nats://` URL of the proxy.
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Loses what clients send for `lose`, then drops every connection
    /// (new ones are let through).
    pub async fn cut(&self, lose: Duration) {
        self.losing.store(true, Ordering::SeqCst);
        tokio::time::sleep(lose).await;
        self.connections.lock().expect("proxy lock").abort_all();
        self.losing.store(false, Ordering::SeqCst);
    }
}

/// Copies both ways until either end closes; client bytes read while
/// `losing` are dropped.
async fn forward(client: TcpStream, server: TcpStream, losing: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
            if !losing.load(Ordering::SeqCst) && server_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.listener.abort();
        self.connections.lock().expect("proxy lock").abort_all();
    }
}
